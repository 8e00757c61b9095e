"""What the shop keeps in a visitor's session: its typed model, and typed flash messages.

``ShopSession`` is the store's model (``get_session``); its field names are the session's keys.
Flash messages are the library's (``Flashes``), kept beside the data: each is a
:class:`FlashMessage`, shown once on the next page.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import BaseModel

from starlette_session import FlashDependency, Flashes, get_session


class Product(BaseModel):
    id: str
    name: str
    price_cents: int
    blurb: str


CATALOG = {
    product.id: product
    for product in (
        Product(id="tea", name="Green tea", price_cents=450, blurb="Sencha, 50 g tin"),
        Product(id="coffee", name="Coffee beans", price_cents=1200, blurb="Medium roast, 250 g"),
        Product(id="honey", name="Wildflower honey", price_cents=825, blurb="Raw, 340 g jar"),
        Product(id="jam", name="Strawberry jam", price_cents=575, blurb="Small batch, 220 g"),
        Product(id="bread", name="Sourdough loaf", price_cents=600, blurb="Baked this morning"),
    )
}


class FlashMessage(BaseModel):
    """A message for the next page the visitor sees (stored as its JSON, read back typed)."""

    level: Literal["info", "success", "error"] = "info"
    text: str


def shown(flash: Flashes[FlashMessage]) -> list[FlashMessage]:
    """The pending messages, removed: a page shows each once."""
    return [pending.message for pending in flash.pop()]


class CartLine(BaseModel):
    product: Product
    quantity: int
    subtotal_cents: int


class CartView(BaseModel):
    lines: list[CartLine]
    count: int
    total_cents: int


class Order(CartView):
    """A cart that was checked out."""

    number: str
    placed_at: datetime


class ShopSession(BaseModel):
    """Who is logged in, what is in the cart (product id -> quantity), the last order placed."""

    username: str | None = None
    cart: dict[str, int] = {}
    #: For the confirmation page; a real shop keeps its orders in its database.
    last_order: Order | None = None

    def add(self, product_id: str, quantity: int = 1) -> None:
        self.cart[product_id] = self.cart.get(product_id, 0) + quantity

    def remove(self, product_id: str) -> None:
        self.cart.pop(product_id, None)

    def check_out(self) -> Order | None:
        """Turn the cart into an order and empty it; ``None`` if there is nothing to buy."""
        cart = cart_view(self)
        if not cart.lines:
            return None
        order = Order(
            number=secrets.token_hex(3).upper(),
            placed_at=datetime.now(timezone.utc),
            lines=cart.lines,
            count=cart.count,
            total_cents=cart.total_cents,
        )
        self.cart = {}
        self.last_order = order
        return order


def cart_view(shop: ShopSession) -> CartView:
    """The cart with names and prices; products no longer sold are left out."""
    lines = [
        CartLine(product=CATALOG[pid], quantity=qty, subtotal_cents=CATALOG[pid].price_cents * qty)
        for pid, qty in shop.cart.items()
        if pid in CATALOG
    ]
    return CartView(
        lines=lines,
        count=sum(line.quantity for line in lines),
        total_cents=sum(line.subtotal_cents for line in lines),
    )


#: The session as the store's model.
Shop = Annotated[ShopSession, Depends(get_session)]
#: The flash messages, typed as FlashMessage.
Flash = Annotated[Flashes[FlashMessage], Depends(FlashDependency(FlashMessage))]
