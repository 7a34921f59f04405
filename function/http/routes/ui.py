"""The web playground: a static page at ``/ui`` that calls the public ``/v1`` API from the browser.

Why the function serves it itself: a platform engineer who has just deployed us should be able to *hear*
the service without writing curl commands, also inside a cluster with no internet access. So the page is
four small static files shipped in the package (no CDN, no build step) and read into memory once.

It sits outside ``/v1/``, so JWT auth does not guard it: the page holds nothing secret and can do
nothing without a token, because every call it makes goes to the protected API. What it needs to know
about this deployment (input limit, whether auth or storage are on) comes from ``/ui/config.json``, which
exposes no more than the API's own error messages would.

Caching: ``index.html`` is revalidated every time (``no-cache`` + ETag) so a new release shows at once;
it links the other files with a content hash in the query (``app.js?v=<hash>``), and a request carrying
the current hash is cached for a year (``immutable``). Text files are gzipped once at load time.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from function.audio.encoding import FORMATS
from function.engines.emotions import CANONICAL, CHINESE_NAMES
from function.edge.context import RuntimeDep
from function.service.runtime import Runtime

log = logging.getLogger(__name__)

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
# Every file the page consists of, and its content type. Anything else under /ui/ is a 404: no
# directory listing, no path traversal to worry about.
CONTENT_TYPES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

router = APIRouter(tags=["ui"], include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when compression would not pay (tiny or already compressed)
    etag: str
    version: str  # short content hash used in ?v= links
    content_type: str


def _asset(body: bytes, content_type: str) -> Asset:
    digest = hashlib.sha256(body).hexdigest()
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return Asset(body, packed if len(packed) < len(body) * 0.9 else None, f'"{digest[:32]}"', digest[:12],
                 content_type)


@cache
def assets() -> dict[str, Asset]:
    """Read the page's files once, and stamp index.html's links with their content hashes."""
    loaded = {name: _asset((UI_DIR / name).read_bytes(), ctype)
              for name, ctype in CONTENT_TYPES.items() if name != "index.html"}
    html = (UI_DIR / "index.html").read_text(encoding="utf-8")
    for name, asset in loaded.items():
        html = html.replace(f"{{{{v:{name}}}}}", asset.version)
    loaded["index.html"] = _asset(html.encode(), CONTENT_TYPES["index.html"])
    return loaded


def storage_origin(rt: Runtime) -> str | None:
    """The origin presigned storage URLs point at (the page reads the batch manifest from there), or None
    for storage a browser cannot reach (local files). Presigning is a local computation, no request."""
    try:
        url = rt.storage.presign("ui-origin-probe", 60)
    except Exception:  # noqa: BLE001 - the page still works, minus reading manifests
        log.debug("could not presign a probe URL for the UI's CSP", exc_info=True)
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(connect_extra: str | None) -> str:
    """Only same-origin scripts, styles and media. ``blob:`` media is audio the page's own script built
    from the API's response (MediaSource streaming, replays); ``connect-src`` adds the storage origin so
    the page can read a batch manifest through its presigned URL."""
    connect = "'self'" + (f" {connect_extra}" if connect_extra else "")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"media-src 'self' blob:; connect-src {connect}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def _security_headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _serve(request: Request, asset: Asset, cache_control: str, csp: str) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding",
               **_security_headers(csp)}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    return Response(body, media_type=asset.content_type, headers=headers)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    """``/ui`` -> ``/ui/``: the page's links are relative, so it also works behind a path prefix."""
    return RedirectResponse("ui/", status_code=308)


@router.get("/ui/")
async def ui_page(request: Request, rt: RuntimeDep) -> Response:
    return _serve(request, assets()["index.html"], REVALIDATE, content_security_policy(storage_origin(rt)))


@router.get("/ui/config.json")
async def ui_config(rt: RuntimeDep) -> JSONResponse:
    """What the page needs to know about this deployment; nothing the API would not tell a caller."""
    settings = rt.settings
    browser_links = storage_origin(rt) is not None
    if settings.storage == "local":
        note = ("This server keeps results in a local directory (EMOTIVOICE_STORAGE=local): a batch runs and "
                "reports progress here, but browsers cannot open its file:// results. Configure S3 storage "
                "to get download links.")
    elif browser_links:
        note = ("Results are written to S3 storage; the manifest and its links are presigned URLs that "
                f"expire after {settings.presign_expiry_seconds} s.")
    else:
        note = ("Results are written to S3 storage, but this server could not make a presigned URL (check its "
                "credentials): batches run, their links may not work.")
    body: dict[str, Any] = {
        "engine": settings.chosen_engine(),
        "max_input_chars": settings.max_input_chars,
        "auth": settings.auth,
        "formats": list(FORMATS),
        "speed": {"min": 0.25, "max": 4.0},  # the API's range (SynthesizeRequest.speed)
        "emotions": [{"id": e, "zh": CHINESE_NAMES[e]} for e in CANONICAL],
        "batch": {"storage": settings.storage, "browser_links": browser_links, "note": note,
                  "max_recipients": settings.batch_max_recipients},
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", **_security_headers("default-src 'none'")})


@router.get("/ui/{name}")
async def ui_asset(name: str, request: Request) -> Response:
    asset = assets().get(name)
    if asset is None or name == "index.html":
        raise HTTPException(404, f"No file {name!r} in the web playground.")
    cache_control = IMMUTABLE if request.query_params.get("v") == asset.version else REVALIDATE
    return _serve(request, asset, cache_control, "default-src 'none'")
