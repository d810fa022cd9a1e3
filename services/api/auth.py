"""Bearer read tokens on /v1/*: `Authorization: Bearer <token>`, one of READ_TOKENS."""
from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# auto_error=False: we answer 401 with WWW-Authenticate ourselves (HTTPBearer's own is 403 on
# some FastAPI versions); the scheme still documents the requirement in OpenAPI.
_bearer = HTTPBearer(auto_error=False, description="A read token from READ_TOKENS")


def token_matches(candidate: str, tokens: tuple[bytes, ...]) -> bool:
    """Constant-time membership: every token is compared, whatever matches first."""
    given = candidate.encode()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found


def require_read_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Missing bearer token: send Authorization: Bearer <read token>",
            headers={"WWW-Authenticate": 'Bearer realm="journeyline"'},
        )
    if not token_matches(credentials.credentials, request.app.state.read_tokens):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="journeyline", error="invalid_token"'},
        )
