"""The browsable API documentation at ``/api/v1/docs``, served entirely by PAO: Swagger UI's
scripts and styles come from the installed ``swagger-ui-bundle-v2`` package (the Swagger UI
distribution, a version that reads OpenAPI 3.1), never from a CDN, so the page works offline."""

from __future__ import annotations

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/api/v1/docs/assets"  # under /api/v1/docs: public, like the page itself


def docs_render_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at ``/api/v1/docs`` (the OpenAPI config's path + ``/docs``), local assets."""
    return SwaggerRenderPlugin(
        path="/docs",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def docs_assets_router() -> Router:
    """The Swagger UI distribution's files (scripts, styles, favicons) at ``ASSETS_PATH``."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_path],
        include_in_schema=False,
        name="docs-assets",
        opt={"exclude_from_auth": True},
    )
