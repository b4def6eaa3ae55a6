"""``push``: accepted so an App subscribed to it does not see failed deliveries.

Request files reach PAO through merged pull requests (``bot.pull_request``), never through a
direct push, so that every request has a reviewed thread to report into; the catalog follows
the default branch through catalog sync, not through this event.
"""

from __future__ import annotations

import logging

from bot.context import BotContext
from bot.router import Event, Router

log = logging.getLogger(__name__)
router = Router()


@router.register("push")
async def on_push(event: Event, bot: BotContext) -> None:
    log.debug("push to %s ignored (requests arrive by pull request)", event.payload.get("ref"))
