"""The live feed of a signed-in page: a WebSocket that the server closes when the session ends.

Each signed-in page opens ``/live``. When its session ends anywhere (a log-out in another tab,
"log out" of this device on another device's active-sessions page, a password change), the
store ends the connection in whichever worker holds it: the ``on_end`` hook tells the page,
which says it was signed out, and the socket is closed with 4401.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from starlette_session import load_session

router = APIRouter()


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    session = await load_session(websocket)
    if session.user_id is None:  # only signed-in pages listen
        await websocket.close(code=4401)
        return

    async def signed_out(reason: str) -> None:
        await websocket.send_json({"event": "signed-out"})

    session.on_end(signed_out)
    await websocket.accept()
    await websocket.send_json({"event": "live"})
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
