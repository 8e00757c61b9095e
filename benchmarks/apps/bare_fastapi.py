"""The limit for the typed path: plain FastAPI without sessions.

Routes return the same shapes as ``ours_fastapi_typed_*`` so that only the session
machinery differs.
"""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/unused", response_class=PlainTextResponse)
async def unused() -> str:
    return "ok"


@app.get("/read")
async def read() -> dict[str, int]:
    return {"counter": 0}


@app.post("/change")
async def change() -> dict[str, int]:
    return {"counter": 1}


@app.get("/login")
async def login() -> dict[str, int]:
    return {"counter": 0}
