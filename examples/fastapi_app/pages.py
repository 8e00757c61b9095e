"""The HTML pages: the shop with its cart, and the log-in form.

Every form posts and redirects (303) to a page, which shows the flash messages and removes them.
The session cookie is SameSite=Lax, so browsers do not send it with another site's form posts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from starlette_session import SessionHandle

from .accounts import DEMO_USERS, check_password, log_in, log_out
from .devices import devices_of, revoke_device
from .models import CATALOG, Flash, Shop, cart_view
from .panel import panel_of

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["money"] = lambda cents: f"${cents / 100:,.2f}"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: SessionHandle, shop: Shop, flash: Flash) -> Response:
    context = {
        "shop": shop,
        "cart": cart_view(shop),
        "products": list(CATALOG.values()),
        "messages": flash.pop_all(),
        "panel": await panel_of(request).view(request, session),
    }
    return templates.TemplateResponse(request, "index.html", context)


@router.post("/cart/add")
async def add_to_cart(product: Annotated[str, Form()], shop: Shop, flash: Flash) -> Response:
    if product in CATALOG:
        shop.add(product)
        flash.flash(f"Added {CATALOG[product].name} to your cart.", "success")
    else:
        flash.flash("That product is not for sale.", "error")
    return see_other("/")


@router.post("/cart/remove")
async def remove_from_cart(product: Annotated[str, Form()], shop: Shop, flash: Flash) -> Response:
    if product in shop.cart:
        shop.remove(product)
        flash.flash(f"Removed {CATALOG[product].name if product in CATALOG else product}.")
    return see_other("/")


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, session: SessionHandle, shop: Shop, flash: Flash, logged_out: bool = False
) -> Response:
    if shop.username:
        return see_other("/")
    context = {
        "shop": shop,
        "messages": flash.pop_all(),
        "logged_out": logged_out,
        "demo_users": DEMO_USERS,
        "panel": await panel_of(request).view(request, session),
    }
    return templates.TemplateResponse(request, "login.html", context)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionHandle,
    shop: Shop,
    flash: Flash,
) -> Response:
    username = username.strip().lower()
    if not check_password(username, password):
        flash.flash("Wrong user name or password.", "error")
        return see_other("/login")
    log_in(
        session, shop, username, fingerprint=panel_of(request).current_fingerprint(request, session)
    )
    flash.flash(f"Welcome, {username}!", "success")
    return see_other("/")


@router.post("/logout")
async def logout(session: SessionHandle) -> Response:
    log_out(session)
    # The session is gone, so this message cannot be a flash: the page is told in its URL.
    return see_other("/login?logged_out=1")


@router.post("/sessions/revoke-others")
async def revoke_other_sessions(request: Request, session: SessionHandle, flash: Flash) -> Response:
    """ "Log out everywhere else": every other session of this user ends now."""
    if session.user_id is None:
        return see_other("/login")
    ended = await panel_of(request).store.revoke_user_sessions(session.user_id, keep=session)
    flash.flash(f"Logged out {ended} other session{'s' if ended != 1 else ''}.", "success")
    return see_other("/")


@router.get("/sessions", response_class=HTMLResponse)
async def active_sessions(
    request: Request, session: SessionHandle, shop: Shop, flash: Flash
) -> Response:
    """ "Your active sessions": every device the user is signed in on, with a button each."""
    user = session.user_id
    if user is None:
        return see_other("/login")
    panel = panel_of(request)
    context = {
        "shop": shop,
        "messages": flash.pop_all(),
        "devices": await devices_of(panel.store, user, session),
        "panel": await panel.view(request, session),
    }
    return templates.TemplateResponse(request, "sessions.html", context)


@router.post("/sessions/revoke")
async def revoke_one_session(
    request: Request, fingerprint: Annotated[str, Form()], session: SessionHandle, flash: Flash
) -> Response:
    """Log one other device out, chosen by its session's fingerprint."""
    user = session.user_id
    if user is None:
        return see_other("/login")
    device = await revoke_device(panel_of(request).store, user, session, fingerprint)
    if device is None:
        flash.flash("That session has already ended.", "error")
    else:
        flash.flash(f"Logged out {device.name} ({device.place}).", "success")
    return see_other("/sessions")
