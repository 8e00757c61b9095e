"""A WebSocket that changes the session: saved with the same compare-and-set as HTTP.

uvicorn serves WebSockets with a WebSocket library, which the standard extra brings:
pip install "starlette-session[fastapi,standard]>=1.0"
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    get_session,
)


class Board(BaseModel):
    notes: list[str] = []


BoardSession = Annotated[Board, Depends(get_session)]
app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    # a server-side backend: memory here, Redis in production
    store=SessionStore(model=Board),
)


@app.post("/notes")  # an HTTP request creates the session (and sets its cookie)
async def add_note(note: str, board: BoardSession) -> Board:
    board.notes.append(note)
    return board


@app.websocket("/ws")
async def live_notes(
    websocket: WebSocket, board: BoardSession, session: SessionHandle
) -> None:
    await websocket.accept()
    try:
        while True:
            note = await websocket.receive_text()
            if not await session.refresh():  # logged out (or revoked) meanwhile
                await websocket.close(code=4401)
                return
            board.notes.append(note)
            await session.save()  # now, instead of when the connection ends
            await websocket.send_json(board.model_dump())
    except WebSocketDisconnect:
        pass  # changes not saved yet are saved when the connection ends
