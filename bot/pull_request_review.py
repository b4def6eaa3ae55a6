"""Pull request reviews: slash commands in review bodies (the same rules as comments; GitHub
offers no reactions on reviews, so the reply alone acknowledges them), and approving reviews
as approvals of the PR's requests waiting for one.

An approving review counts as ``/approve`` by its author when it was given on the head the
pull request has now (a review of an earlier push is stale). Before the merge there is no
request yet: the merge handler counts those reviews (``pull_request.count_reviews``). A review
requesting changes is not a rejection: only ``/reject <reason>`` is.
"""

from __future__ import annotations

from bot.approvals import AWAITING, TeamLookup
from bot.comments import command_reply
from bot.context import BotContext
from bot.events import ReviewEvent
from bot.issue_comment import is_own, run_commands
from bot.pull_request import approve_as
from bot.router import Event, Router
from bot.slash_commands import parse_commands

router = Router()


@router.register("pull_request_review", "submitted")
async def on_review(event: Event, bot: BotContext) -> None:
    parsed = ReviewEvent.model_validate(event.payload)
    review = parsed.review
    if is_own(bot, review.user.login, review.user.type):
        return
    correlation_id = f"github-{event.delivery_id}"
    commands = parse_commands(review.body)
    if commands:
        await run_commands(
            bot,
            commands,
            repo=parsed.repository.full_name,
            number=parsed.pull_request.number,
            login=review.user.login,
            comment_id=None,
            correlation_id=correlation_id,
        )
    if review.state.lower() == "approved" and not any(c.name == "approve" for c in commands):
        await approving_review(bot, parsed, correlation_id=correlation_id)


async def approving_review(bot: BotContext, event: ReviewEvent, *, correlation_id: str) -> None:
    """Record the review as an approval of each linked request waiting for one; a refusal is
    answered (the reviewer learns their review did not count, and why)."""
    repo, pr, review = event.repository.full_name, event.pull_request, event.review
    if review.commit_id and review.commit_id != pr.head.sha:
        return  # stale: given on an earlier push
    waiting = [t for t in await bot.links.on_thread(repo, pr.number) if t.status == AWAITING]
    if not waiting:
        return  # not merged yet (counted at the merge), or nothing waits for approval
    teams = TeamLookup(bot.github, repo.split("/", 1)[0])
    refusals = []
    for thread in waiting:
        refused = await approve_as(
            bot,
            thread.link.request_id,
            review.user.login,
            teams,
            correlation_id=correlation_id,
            reason=f"approving review {review.id}",
        )
        if refused is not None:
            refusals.append(f"- `{thread.link.request_id}`: not counted: {refused}")
    if refusals:
        quoted = f"Approving review by @{review.user.login}"
        await bot.github.create_comment(repo, pr.number, command_reply(quoted, "\n".join(refusals)))
