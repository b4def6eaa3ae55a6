"""The baseline: a Litestar app whose one endpoint returns fixed bytes from memory."""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, Response, get


def app_factory() -> Litestar:
    body = Path(os.environ["PAO_BENCH_BODY_FILE"]).read_bytes()

    @get("/api/v1/catalog/items/{item_id:str}")
    async def item(item_id: str) -> Response[bytes]:
        return Response(body, media_type="application/json")

    return Litestar(route_handlers=[item], openapi_config=None)
