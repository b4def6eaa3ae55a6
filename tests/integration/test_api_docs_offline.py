"""Issue 18: /api/v1/docs works without internet: the page and every asset it references come
from PAO itself (Swagger UI's distribution installed as a package), nothing from a CDN."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.anyio

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


async def test_docs_and_every_asset_it_references_are_served_locally(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "swagger-ui" in html.lower()
    assert not re.search(r"(?:src|href)\s*=\s*[\"']https?://", html), "an asset from elsewhere"
    for cdn in ("cdn.", "unpkg", "jsdelivr"):
        assert cdn not in html

    references = {a or b for a, b in _REFERENCE.findall(html)}
    assert references, html
    kinds: dict[str, str] = {}
    for reference in sorted(references):
        url = urljoin("http://testserver/api/v1/docs", reference)
        assert urlsplit(url).netloc == "testserver", f"{reference} is not served by PAO"
        response = await client.get(urlsplit(url).path)
        assert response.status_code == 200, reference
        assert response.content, reference
        kinds[reference] = response.headers["content-type"]
    assert any("javascript" in kind for kind in kinds.values()), kinds
    assert any("css" in kind for kind in kinds.values()), kinds
    assert "SwaggerUIBundle(" in html  # the page starts Swagger UI (the document is inline)
    document = await client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")
