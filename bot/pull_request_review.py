"""Slash commands in pull request review bodies: the same rules as comments (GitHub offers no
reactions on reviews, so the reply alone acknowledges them)."""

from __future__ import annotations

from bot.commands import parse_commands
from bot.context import BotContext
from bot.events import ReviewEvent
from bot.issue_comment import is_own, run_commands
from bot.router import Event, Router

router = Router()


@router.register("pull_request_review", "submitted")
async def on_review(event: Event, bot: BotContext) -> None:
    parsed = ReviewEvent.model_validate(event.payload)
    review = parsed.review
    if is_own(bot, review.user.login, review.user.type):
        return
    commands = parse_commands(review.body)
    if commands:
        await run_commands(
            bot,
            commands,
            repo=parsed.repository.full_name,
            number=parsed.pull_request.number,
            login=review.user.login,
            comment_id=None,
            correlation_id=f"github-{event.delivery_id}",
        )
