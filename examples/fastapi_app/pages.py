"""The HTML pages: the shop with its cart, the log-in form, checking out, your sessions.

Every form posts and redirects (303) to a page, which shows the flash messages and removes them;
a failed log-in instead shows the form again at once, with the user name kept. Every form carries
the session's CSRF token, which the router checks on each POST (403 without it); the session
cookie is also SameSite=Lax, so browsers do not send it with another site's form posts. The
"your active sessions" page asks for the password again when the log-in is older than
``CONFIRM_WITHIN`` seconds (see ``main.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from starlette_session import (
    SessionHandle,
    csrf_token,
    require_recent_auth,
    verify_csrf,
)

from .accounts import DEMO_USERS, check_password, log_in, log_out
from .devices import devices_of, revoke_device
from .models import CATALOG, Flash, FlashMessage, Shop, cart_view, shown
from .panel import panel_of

# verify_csrf lets GET through and refuses a POST without the session's token (403).
router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["money"] = lambda cents: f"${cents / 100:,.2f}"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def render(request: Request, name: str, context: dict[str, Any]) -> Response:
    """The template, with a CSRF token for its forms (masked anew in each page)."""
    context["csrf_token"] = await csrf_token(request)
    return templates.TemplateResponse(request, name, context)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: SessionHandle, shop: Shop, flash: Flash) -> Response:
    context = {
        "shop": shop,
        "cart": cart_view(shop),
        "products": list(CATALOG.values()),
        "messages": shown(flash),
        "panel": await panel_of(request).view(request, session),
    }
    return await render(request, "index.html", context)


@router.post("/cart/add")
async def add_to_cart(product: Annotated[str, Form()], shop: Shop, flash: Flash) -> Response:
    if product in CATALOG:
        shop.add(product)
        flash.add(
            FlashMessage(text=f"Added {CATALOG[product].name} to your cart.", level="success")
        )
    else:
        flash.add(FlashMessage(text="That product is not for sale.", level="error"))
    return see_other("/")


@router.post("/cart/remove")
async def remove_from_cart(product: Annotated[str, Form()], shop: Shop, flash: Flash) -> Response:
    if product in shop.cart:
        shop.remove(product)
        flash.add(
            FlashMessage(
                text=f"Removed {CATALOG[product].name if product in CATALOG else product}."
            )
        )
    return see_other("/")


@router.post("/checkout")
async def checkout(shop: Shop, flash: Flash) -> Response:
    """Place the order: the logged-in user's cart becomes an order, and the cart empties."""
    if not shop.username:
        flash.add(FlashMessage(text="Log in to check out; your cart stays."))
        return see_other("/login")
    if shop.check_out() is None:
        flash.add(FlashMessage(text="Your cart is empty: add something first.", level="error"))
        return see_other("/")
    return see_other("/order")


@router.get("/order", response_class=HTMLResponse)
async def order_placed(
    request: Request, session: SessionHandle, shop: Shop, flash: Flash
) -> Response:
    """The confirmation of the last order this session placed."""
    if shop.last_order is None:
        return see_other("/")
    context = {
        "shop": shop,
        "order": shop.last_order,
        "messages": shown(flash),
        "panel": await panel_of(request).view(request, session),
    }
    return await render(request, "order.html", context)


async def login_page(
    request: Request,
    session: SessionHandle,
    shop: Shop,
    messages: list[FlashMessage],
    *,
    logged_out: bool = False,
    username: str = "",
) -> Response:
    context = {
        "shop": shop,
        "messages": messages,
        "logged_out": logged_out,
        "username": username,
        "demo_users": DEMO_USERS,
        "panel": await panel_of(request).view(request, session),
    }
    return await render(request, "login.html", context)


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, session: SessionHandle, shop: Shop, flash: Flash, logged_out: bool = False
) -> Response:
    if shop.username:
        return see_other("/")
    return await login_page(request, session, shop, shown(flash), logged_out=logged_out)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionHandle,
    shop: Shop,
    flash: Flash,
) -> Response:
    typed, username = username, username.strip().lower()
    await session.begin_login(username)  # before the check: a revocation from now on wins
    if not check_password(username, password):
        # The form again, the name as typed and the password empty. Not a redirect: the name
        # would have to wait in the session, and a visitor who only mistyped needs none.
        error = FlashMessage(text="Wrong user name or password.", level="error")
        return await login_page(request, session, shop, [*shown(flash), error], username=typed)
    log_in(
        session, shop, username, fingerprint=panel_of(request).current_fingerprint(request, session)
    )
    flash.add(FlashMessage(text=f"Welcome, {username}!", level="success"))
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
    flash.add(
        FlashMessage(
            text=f"Logged out {ended} other session{'s' if ended != 1 else ''}.", level="success"
        )
    )
    return see_other("/")


@router.get("/sessions", response_class=HTMLResponse)
async def active_sessions(request: Request, shop: Shop, flash: Flash) -> Response:
    """ "Your active sessions": every device the user is signed in on, with a button each.
    Not signed in: the log-in page; signed in too long ago: "confirm your password" first
    (``main.py`` turns the two errors of ``require_recent_auth`` into those redirects)."""
    session = await require_recent_auth(request, request.app.state.confirm_within)
    user = session.user_id
    assert user is not None  # checked by require_recent_auth  # noqa: S101
    panel = panel_of(request)
    context = {
        "shop": shop,
        "messages": shown(flash),
        "devices": await devices_of(panel.store, user, session),
        "panel": await panel.view(request, session),
    }
    return await render(request, "sessions.html", context)


@router.get("/confirm", response_class=HTMLResponse)
async def confirm_form(
    request: Request, session: SessionHandle, shop: Shop, flash: Flash, next: str = "/"
) -> Response:
    if session.user_id is None:
        return see_other("/login")
    context = {
        "shop": shop,
        "messages": shown(flash),
        "next": local(next),
        "panel": await panel_of(request).view(request, session),
    }
    return await render(request, "confirm.html", context)


@router.post("/confirm")
async def confirm(
    password: Annotated[str, Form()],
    session: SessionHandle,
    flash: Flash,
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The password again: the session records a new authentication (and gets a new id)."""
    user = session.user_id
    if user is None:
        return see_other("/login")
    if not check_password(user, password):
        flash.add(FlashMessage(text="Wrong password.", level="error"))
        return see_other(f"/confirm?next={local(next)}")
    session.reauthenticated("password")
    return see_other(local(next))


def local(path: str) -> str:
    """``path`` if it is a page of this site, else the home page (no open redirect)."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


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
        flash.add(FlashMessage(text="That session has already ended.", level="error"))
    else:
        flash.add(FlashMessage(text=f"Logged out {device.name} ({device.place}).", level="success"))
    return see_other("/sessions")
