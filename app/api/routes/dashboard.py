"""/dashboard: the operators' pages, rendered on the server (Jinja2, inline SVG charts, one style
sheet served from the package), so they work with no script and no route to the internet.

Access follows the API's keys. With keys configured, a page asks for one (a login form that keeps
it in an HttpOnly, SameSite=Strict cookie scoped to /dashboard), or takes `X-API-Key` as the API
does. A write key sees everything and may start a rebuild; a read key sees what the API lets it
read: the catalog's popular items, a shopper's recommendations and an item's similar items, but
neither the model and traffic panels nor a shopper's history.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.api import charts
from app.api.deps import BackgroundDep, RuntimeDep
from app.api.keys import ApiKeys
from app.api.schemas.common import ID_PATTERN, MAX_ID_LENGTH
from app.services.serving import dashboard

PREFIX = "/dashboard"
COOKIE = "shoprec_key"
HERE = Path(__file__).resolve().parents[1]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates" / "dashboard"))
templates.env.globals.update(charts=charts, palette=charts.PALETTE)
static = StaticFiles(directory=str(HERE / "static"))

Scope = Literal["read", "write"]
BAD_ID = "{what} id is 1-128 printable characters without surrounding spaces."


def _keys(request: Request) -> ApiKeys:
    return request.state.keys  # type: ignore[no-any-return]  # the lifespan's (main.py)


def _scope(request: Request) -> Scope | None:
    """The key's scope: from `X-API-Key`, else the login cookie; "write" when no keys are set."""
    key = request.headers.get("x-api-key") or request.cookies.get(COOKIE) or ""
    return _scope_of_key(_keys(request), key)


def _scope_of_key(keys: ApiKeys, key: str) -> Scope | None:
    if not keys.enabled:
        return "write"
    return keys.scope(key.encode("latin-1")) if key else None


class _LoginNeeded(Exception):
    pass


async def page_scope(request: Request) -> Scope:
    scope = _scope(request)
    if scope is None:
        raise _LoginNeeded
    return scope


ScopeDep = Annotated[Scope, Depends(page_scope)]


def _render(
    request: Request, name: str, scope: Scope, status_code: int = 200, **context: Any
) -> HTMLResponse:
    auth = _keys(request).enabled
    return templates.TemplateResponse(
        request, name, {"scope": scope, "auth": auth, "prefix": PREFIX, **context}, status_code=status_code
    )


_ID = re.compile(ID_PATTERN)


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH and _ID.fullmatch(value) is not None


@router.get("")
def overview(request: Request, runtime: RuntimeDep, background: BackgroundDep, scope: ScopeDep) -> Response:
    page = dashboard.overview(runtime, full=scope == "write", building_here=background.building)
    return _render(request, "overview.html", scope, **page)


@router.get("/shoppers")
def find_shopper(user_id: str = "") -> Response:
    """The lookup form's target: on to the shopper's page."""
    return RedirectResponse(f"{PREFIX}/shoppers/{quote(user_id.strip(), safe='')}", status_code=303)


@router.get("/shoppers/{user_id}")
def shopper(request: Request, runtime: RuntimeDep, scope: ScopeDep, user_id: str) -> Response:
    if not _valid_id(user_id):
        return _render(request, "message.html", scope, 422, message=BAD_ID.format(what="A shopper"))
    page = dashboard.shopper(runtime, user_id, with_history=scope == "write")
    return _render(request, "shopper.html", scope, page=page)


@router.get("/items")
def find_item(item_id: str = "") -> Response:
    return RedirectResponse(f"{PREFIX}/items/{quote(item_id.strip(), safe='')}", status_code=303)


@router.get("/items/{item_id}")
def item(request: Request, runtime: RuntimeDep, scope: ScopeDep, item_id: str) -> Response:
    if not _valid_id(item_id):
        return _render(request, "message.html", scope, 422, message=BAD_ID.format(what="An item"))
    page = dashboard.item(runtime, item_id)
    if page is None:
        return _render(request, "message.html", scope, 404, message=f"No item {item_id!r} in the catalog.")
    return _render(request, "item.html", scope, page=page)


@router.post("/rebuild")
async def rebuild(request: Request, background: BackgroundDep) -> Response:
    scope = _scope(request)
    if scope != "write" or not _same_origin(request):
        return _render(
            request, "message.html", scope or "read", 403, message="Starting a rebuild needs a write key."
        )
    background.request_rebuild()
    return RedirectResponse(f"{PREFIX}?rebuild=requested", status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    return _render(request, "login.html", "read", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    body = await request.body()
    key = (parse_qs(body.decode("latin-1")).get("key") or [""])[0].strip()
    keys = _keys(request)
    if not keys.enabled:
        return RedirectResponse(PREFIX, status_code=303)
    scope = _scope_of_key(keys, key)
    if scope is None:
        return _render(request, "login.html", "read", 401, error="This key is not accepted.")
    response = RedirectResponse(PREFIX, status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _same_origin(request: Request) -> bool:
    """A form posted from another site carries its Origin: refused, whatever cookie came with it."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def install(app: Any) -> None:
    """The router, its style sheet, and the redirect to the login form."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", static, name="dashboard-static")

    @app.exception_handler(_LoginNeeded)
    async def login_needed(request: Request, _: _LoginNeeded) -> Response:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
