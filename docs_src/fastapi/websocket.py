"""A WebSocket endpoint reads the typed session sent with its handshake (read-only).

uvicorn serves WebSockets with a WebSocket library, which the standard extra brings:
pip install "starlette-session[fastapi,standard]>=1.0"
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, WebSocket
from pydantic import BaseModel

from starlette_session import SessionMiddleware, SessionStore, get_session


class Account(BaseModel):
    user: str | None = None


app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(model=Account),
)


@app.post("/login")
async def login(user: str, account: Annotated[Account, Depends(get_session)]) -> None:
    account.user = user


@app.websocket("/ws")
async def greet(
    websocket: WebSocket, account: Annotated[Account, Depends(get_session)]
) -> None:
    await websocket.accept()
    await websocket.send_text(f"hello, {account.user or 'stranger'}")
    await websocket.close()
