"""Bearer read tokens on /v1/*: `Authorization: Bearer <token>`, one of READ_TOKENS (bootstrap and
development tokens, in memory) or a read token of `journeyline keys create --kind read`, looked up in
ClickHouse's access_keys per request (services/common/access_keys.py; lookups cached at most
ACCESS_KEY_CACHE_S <= 1 s, which bounds how long a revoked token keeps working). With ClickHouse
unreachable, READ_TOKENS still authenticate (the query itself then fails) and store tokens get 503."""
from __future__ import annotations

import hmac
import threading

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.access_keys import AccessKeyStore, KeyStoreUnavailable

# auto_error=False: we answer 401 with WWW-Authenticate ourselves (HTTPBearer's own is 403 on
# some FastAPI versions); the scheme still documents the requirement in OpenAPI.
_bearer = HTTPBearer(auto_error=False, description="A read token: one of READ_TOKENS, or from `journeyline keys`")
_store_lock = threading.Lock()
RETRY_AFTER_S = 5
_CHECKED = "_read_token_checked"  # request state: the token was checked before the body was read


def token_matches(candidate: str, tokens: tuple[bytes, ...]) -> bool:
    """Constant-time membership: every token is compared, whatever matches first."""
    given = candidate.encode()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found


def key_store(app: FastAPI) -> AccessKeyStore:
    """The app's store, made on first need on the app's own ClickHouse client."""
    with _store_lock:
        store = getattr(app.state, "access_keys", None)
        if store is None:
            ttl = getattr(app.state.settings, "access_key_cache_s", 1.0)
            store = app.state.access_keys = AccessKeyStore(app.state.clickhouse.get, cache_ttl_s=ttl)
        return store


def check_read_token(app: FastAPI, credentials: HTTPAuthorizationCredentials | None) -> None:
    """Raise 401 (or 503: key store down) unless the credentials carry a valid read token."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Missing bearer token: send Authorization: Bearer <read token>",
            headers={"WWW-Authenticate": 'Bearer realm="journeyline"'},
        )
    if token_matches(credentials.credentials, app.state.read_tokens):
        return
    try:
        key = key_store(app).lookup(credentials.credentials, "read")
    except KeyStoreUnavailable:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="The key store (ClickHouse) is unavailable, so this token cannot be checked; retry",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="journeyline", error="invalid_token"'},
        )


def require_read_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    # Sync on purpose: FastAPI runs it in a worker thread, so a store lookup never blocks the loop.
    if request.scope.get("state", {}).get(_CHECKED):
        return  # authenticate_before_body() let this request through already
    check_read_token(request.app, credentials)


async def authenticate_before_body(request: Request) -> Response | None:
    """For BodyGuard: the refusal of a request without a valid read token, before its body is read."""
    try:
        await run_in_threadpool(check_read_token, request.app, await _bearer(request))
    except HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    request.scope.setdefault("state", {})[_CHECKED] = True
    return None
