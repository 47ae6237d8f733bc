"""Tokens (PyJWT, HS256, the contract's claims) and the auth service's two endpoints."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from .limits import load_json

ISSUER = "netra-auth-service"
AUDIENCE = "netra-platform"
# The auth service answers expires_in 900 while, with its default settings, it signs access tokens
# valid for 30 minutes (auth_service/auth_core/routes/auth_routes.py vs. the JWT handler's default).
ADVERTISED_TTL_S = 900
ACCESS_TTL_S = 1800
REFRESH_TTL_S = 7 * 86400
USER_NAMESPACE = uuid.UUID("6f1c7a52-1d2b-4c3e-9a8f-5b0e2d4c6a10")


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for."""

    user_id: str
    email: str
    permissions: tuple[str, ...]
    expires_at: float


class InvalidToken(Exception):
    """A token that is missing, malformed, expired or signed with another key."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TokenService:
    """Issues and checks the platform's access tokens."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._revoked: set[str] = set()  # jti of signed-out tokens

    @property
    def secret(self) -> str:
        """The signing key (the release gate signs expired tokens with it on the stand-in)."""
        return self._secret

    def revoke(self, token: str) -> None:
        """Sign a token out: it is refused from now on (`auth_service.blacklist_token`)."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                options={"verify_exp": False, "verify_aud": False})
        except jwt.PyJWTError:
            return
        self._revoked.add(str(claims.get("jti") or token))

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign arbitrary claims with the service's key (tests forge edge cases with it)."""
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def issue(self, user_id: str, email: str, permissions: list[str],
              token_type: str = "access", ttl_s: int = ACCESS_TTL_S) -> str:
        now = int(time.time())
        return self.sign({"sub": user_id, "email": email, "permissions": permissions, "iat": now,
                          "exp": now + ttl_s, "token_type": token_type, "type": token_type,
                          "iss": ISSUER, "aud": AUDIENCE, "jti": str(uuid.uuid4())})

    def check(self, token: str | None, verify_signature: bool = True, verify_exp: bool = True,
              accept_refresh: bool = False) -> Identity:
        """The identity of a valid access token; raises InvalidToken.

        As `_validate_enhanced_jwt_claims_fast` does: token_type and iat are required, the
        audience is checked only when the token carries one, a refresh token is refused, and a
        signed-out token is refused. The flags switch a check off, for the faults."""
        if not token:
            raise InvalidToken("missing_token", "No token was given")
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=ISSUER,
                                options={"verify_signature": verify_signature, "verify_aud": False,
                                         "verify_exp": verify_exp,
                                         "require": ["sub", "exp", "iat", "token_type"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token_expired", "The token has expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid_token", f"The token is not valid: {exc}") from None
        if "aud" in claims and claims["aud"] != AUDIENCE:
            raise InvalidToken("invalid_token", "The token is meant for another audience")
        if claims["token_type"] != "access" and not accept_refresh:
            raise InvalidToken("invalid_token_type", "Only access tokens are accepted")
        if str(claims.get("jti") or token) in self._revoked:
            raise InvalidToken("token_blacklisted", "The token has been signed out")
        return Identity(user_id=str(claims["sub"]), email=str(claims.get("email", "")),
                        permissions=tuple(claims.get("permissions") or ()),
                        expires_at=float(claims["exp"]))


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def api_identity(state: Any, token: str | None) -> Identity:
    """The caller of a protected REST route (`auth_integration/auth.py`, `get_current_user`,
    which asks the auth service); raises InvalidToken. The REST faults switch one check off."""
    faults = state.faults
    if token is None and "api-auth-not-enforced" in faults:
        return Identity(user_id="anonymous", email="", permissions=(), expires_at=0.0)
    return state.tokens.check(token, verify_signature="api-invalid-token-accepted" not in faults,
                              verify_exp="expired-token-accepted" not in faults,
                              accept_refresh="refresh-token-accepted" in faults)


def error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; raises ValueError with a reason otherwise."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise ValueError("a JSON object body is required")
    try:
        body = load_json(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


async def e2e_test_auth(request: Request) -> JSONResponse:
    """POST /auth/e2e/test-auth: sign an E2E user in with the bypass key."""
    state = request.app.state.standin
    given = request.headers.get("x-e2e-bypass-key")
    if not given:
        return error(401, "E2E bypass key required")
    right = hmac.compare_digest(given.encode(), state.bypass_key.encode())
    if "bypass-rejected" in state.faults or not (right or "bypass-not-enforced" in state.faults):
        return error(401, "Invalid E2E bypass key")
    try:
        body = await read_json_object(request, optional=True)
    except ValueError as exc:
        return error(422, str(exc))
    email = str(body.get("email") or "e2e-test@staging.local")
    name = str(body.get("name") or "E2E Test User")
    permissions = body.get("permissions") or ["read", "write"]
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        return error(422, "permissions must be a list of strings")
    user_id = str(uuid.uuid5(USER_NAMESPACE, email))
    tokens: TokenService = state.tokens
    return JSONResponse({
        "access_token": tokens.issue(user_id, email, permissions),
        "refresh_token": tokens.issue(user_id, email, permissions, "refresh", REFRESH_TTL_S),
        "token_type": "Bearer",
        "expires_in": ADVERTISED_TTL_S,
        "user": {"id": user_id, "email": email, "name": name, "permissions": permissions},
    })


async def validate(request: Request) -> JSONResponse:
    """POST /auth/validate: always 200, saying whether the token is valid."""
    try:
        body = await read_json_object(request, optional=True)
    except ValueError as exc:
        return JSONResponse({"valid": False, "error": "invalid_request", "message": str(exc)})
    token = body.get("token")
    try:
        identity = request.app.state.standin.tokens.check(token if isinstance(token, str) else None)
    except InvalidToken as exc:
        return JSONResponse({"valid": False, "error": exc.code, "message": str(exc)})
    return JSONResponse({"valid": True, "user_id": identity.user_id, "email": identity.email,
                         "permissions": list(identity.permissions),
                         "expires_at": identity.expires_at})


async def logout(request: Request) -> JSONResponse:
    """POST /auth/logout: the Bearer token is signed out (blacklisted) and always 200
    (`auth_service/auth_core/routes/auth_routes.py`, `logout_endpoint`)."""
    state = request.app.state.standin
    token = bearer_token(request)
    if token and "logout-not-enforced" not in state.faults:
        state.tokens.revoke(token)
    return JSONResponse({"message": "Successfully logged out", "status": "success"})
