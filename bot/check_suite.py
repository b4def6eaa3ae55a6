"""``check_suite`` ``rerequested`` ("Re-run all checks" in the UI): validate the PRs again."""

from __future__ import annotations

from bot.context import BotContext
from bot.events import CheckSuiteEvent
from bot.pull_request import preview_pull_request
from bot.router import Event, Router

router = Router()


@router.register("check_suite", "rerequested")
async def on_rerequested(event: Event, bot: BotContext) -> None:
    parsed = CheckSuiteEvent.model_validate(event.payload)
    repo = parsed.repository.full_name
    for pr in parsed.check_suite.pull_requests:
        data = await bot.github.pull_request(repo, pr.number)
        await preview_pull_request(
            bot.github,
            bot.settings,
            bot.requests.validate,
            repo=repo,
            number=pr.number,
            head_sha=str(data["head"]["sha"]),
            author=str(data["user"]["login"]),
            environment=bot.template_environment,
        )
