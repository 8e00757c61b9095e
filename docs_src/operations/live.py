"""Live connections that end with their session: a WebSocket feed and a stream.

uvicorn serves WebSockets with a WebSocket library, which the standard extra brings:
pip install "starlette-session[fastapi,standard]>=1.0"
"""

import os
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from starlette_session import SessionMiddleware, SessionStore, load_session

app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    # memory here; with Redis or PostgreSQL every worker learns of the end within 1 s
    store=SessionStore(),
)


@app.post("/login")
async def login(request: Request, user: str) -> dict[str, str]:
    session = await load_session(request)
    await session.begin_login(user)
    session.regenerate()
    session.set_user(user)
    session["name"] = user
    return {"user": user}


@app.post("/logout")
async def logout(request: Request) -> dict[str, bool]:
    session = await load_session(request)
    session.destroy()  # its sockets and streams end too, in every worker
    return {"logged_out": True}


@app.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    session = await load_session(websocket)  # a stored session: registered

    async def goodbye(reason: str) -> None:  # the last message, then close 4401
        await websocket.send_json({"event": "signed-out", "reason": reason})

    session.on_end(goodbye)
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_json({"user": session.user_id, "text": text})
    except WebSocketDisconnect:
        pass


@app.get("/events")
async def events(request: Request) -> StreamingResponse:
    session = await load_session(request)
    ended = await session.ended_event()  # set when the session ends, anywhere

    async def stream() -> AsyncIterator[str]:
        tick = 0
        while not ended.is_set():
            yield f"data: tick {tick}\n\n"
            tick += 1
            with anyio.move_on_after(1):
                await ended.wait()
        yield "event: signed-out\ndata: \n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")
