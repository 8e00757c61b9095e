"""Bare FastAPI whose session endpoints take a trivial dependency instead of a session.

It tells how much of the typed path's cost is FastAPI's own dependency injection (any
``Depends``, sessions or not) rather than this library.
"""

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel


class Counter(BaseModel):
    counter: int = 0


async def constant_counter() -> Counter:
    return Counter()


Session = Annotated[Counter, Depends(constant_counter)]

app = FastAPI()


@app.get("/unused", response_class=PlainTextResponse)
async def unused() -> str:
    return "ok"


@app.get("/read")
async def read(session: Session) -> dict[str, int]:
    return {"counter": session.counter}


@app.post("/change")
async def change(session: Session) -> dict[str, int]:
    session.counter += 1
    return {"counter": session.counter}


@app.get("/login")
async def login() -> dict[str, int]:
    return {"counter": 0}
