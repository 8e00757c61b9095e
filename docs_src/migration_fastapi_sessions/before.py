"""Before: fastapi-sessions 0.3; the app creates, reads and deletes sessions itself.

It runs with pip install fastapi-sessions.
"""

import os
from uuid import UUID, uuid4

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi_sessions.backends.implementations import InMemoryBackend
from fastapi_sessions.frontends.implementations import CookieParameters, SessionCookie
from fastapi_sessions.session_verifier import SessionVerifier
from pydantic import BaseModel


class SessionData(BaseModel):
    username: str


cookie = SessionCookie(
    cookie_name="cookie",
    identifier="general_verifier",
    auto_error=True,
    secret_key=os.environ["SESSION_SECRET"],
    cookie_params=CookieParameters(),
)
backend = InMemoryBackend[UUID, SessionData]()


class BasicVerifier(SessionVerifier[UUID, SessionData]):
    """Every session the backend holds is valid."""

    def __init__(self, backend: InMemoryBackend[UUID, SessionData]) -> None:
        self._backend = backend

    identifier = "general_verifier"
    auto_error = True
    auth_http_exception = HTTPException(403, "invalid session")

    @property
    def backend(self) -> InMemoryBackend[UUID, SessionData]:
        return self._backend

    def verify_session(self, model: SessionData) -> bool:
        return True


verifier = BasicVerifier(backend)
app = FastAPI()


@app.post("/create_session/{name}")
async def create_session(name: str, response: Response) -> None:
    session = uuid4()
    await backend.create(session, SessionData(username=name))
    cookie.attach_to_response(response, session)


@app.get("/whoami", dependencies=[Depends(cookie)])
async def whoami(session_data: SessionData = Depends(verifier)) -> SessionData:
    return session_data


@app.post("/delete_session")
async def del_session(response: Response, session_id: UUID = Depends(cookie)) -> None:
    await backend.delete(session_id)
    cookie.delete_from_response(response)
