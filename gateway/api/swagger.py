"""The docs UI, Swagger UI at `/schema/swagger` (and `/schema`), working offline: its script, style
sheet and icon are served by the gateway from the swagger-ui-py wheel, where Litestar's plugin would
load them from a CDN (blank without network, and a third party sees who reads the docs).

swagger-ui-py is used for its files only (Swagger UI 5, which renders OpenAPI 3.1; swagger-ui-bundle
ships 4.x, which does not); its Python code, made for other frameworks, is never imported.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Final

from litestar import Response, Router, get
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath

from gateway.api.problems import Problem

ASSETS: Final = "/assets"  # below the OpenAPI router's path (/schema)
FILES: Final = {  # what the page loads → its media type
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


@cache
def _static() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (a dependency of pasarela)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@cache
def _read(name: str) -> bytes:
    return (_static() / name).read_bytes()


@get(f"{ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def swagger_asset(name: FromPath[str]) -> Response[bytes]:
    """One of the UI's files; they change only with the package, so browsers may keep them a day."""
    if name not in FILES:
        raise Problem(404, "not-found", f"no asset {name!r}")
    return Response(_read(name), media_type=FILES[name], headers={"Cache-Control": "public, max-age=86400"})


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI whose files come from the gateway, at `<schema path>/swagger`."""

    def __init__(self, schema_path: str) -> None:
        base = f"{schema_path}{ASSETS}"
        super().__init__(
            js_url=f"{base}/swagger-ui-bundle.js",
            css_url=f"{base}/swagger-ui.css",
            standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
            path="/swagger",
        )

    def receive_router(self, router: Router) -> None:
        router.register(swagger_asset)
