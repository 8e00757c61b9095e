"""The JSON API under /api: the same shop and the same session as the pages."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from starlette_session import CSRFToken, SessionHandle

from .accounts import check_password, log_in, log_out
from .models import (
    CATALOG,
    CartView,
    Flash,
    FlashMessage,
    Order,
    Product,
    Shop,
    cart_view,
    shown,
)
from .panel import panel_of

router = APIRouter(prefix="/api", tags=["api"])


class Credentials(BaseModel):
    username: str
    password: str


class Me(BaseModel):
    username: str | None
    cart: CartView


class CartItem(BaseModel):
    product: str
    quantity: int = Field(default=1, ge=1, le=99)


@router.get("/products")
async def products() -> list[Product]:
    """The catalog. This endpoint does not use the session, so it costs no backend call."""
    return list(CATALOG.values())


@router.get("/me")
async def me(shop: Shop) -> Me:
    return Me(username=shop.username, cart=cart_view(shop))


@router.post("/login")
async def login(
    request: Request, credentials: Credentials, session: SessionHandle, shop: Shop, flash: Flash
) -> Me:
    """Log in: the session gets a new id and keeps its cart."""
    username = credentials.username.strip().lower()
    await session.begin_login(username)  # before the check: a revocation from now on wins
    if not check_password(username, credentials.password):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    log_in(
        session, shop, username, fingerprint=panel_of(request).current_fingerprint(request, session)
    )
    flash.add(FlashMessage(text=f"Welcome, {username}!", level="success"))
    return Me(username=username, cart=cart_view(shop))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: SessionHandle) -> None:
    """Log out: the session is deleted server-side and its cookie expired."""
    log_out(session)


@router.get("/cart")
async def get_cart(shop: Shop) -> CartView:
    return cart_view(shop)


@router.post("/cart")
async def add_to_cart(item: CartItem, shop: Shop) -> CartView:
    if item.product not in CATALOG:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no product {item.product!r}")
    shop.add(item.product, item.quantity)
    return cart_view(shop)


@router.delete("/cart/{product}")
async def remove_from_cart(product: str, shop: Shop) -> CartView:
    shop.remove(product)
    return cart_view(shop)


@router.post("/checkout")
async def checkout(shop: Shop) -> Order:
    """Place the order: the logged-in user's cart becomes an order, and the cart empties."""
    if not shop.username:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in to check out")
    order = shop.check_out()
    if order is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the cart is empty")
    return order


@router.get("/csrf")
async def csrf(token: CSRFToken) -> dict[str, str]:
    """A CSRF token for a script's ``X-CSRF-Token`` header on the HTML pages' form actions."""
    return {"csrf_token": token}


@router.get("/flashes")
async def flashes(flash: Flash) -> list[FlashMessage]:
    """The pending flash messages; each is returned once."""
    return shown(flash)
