"""Signed-in users: through the staging sign-in bypass, or from a ready-made token."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from hamcrest import equal_to, has_key, instance_of

from ..client.http import HttpClient, describe
from ..config.target import Target
from ..errors import CheckFailed, NeedsBypassKey
from ..vocabulary import Classification
from .checks import expect, expect_json

MAIN_USER_EMAIL = "release-gate@e2e.test"
OTHER_USER_EMAIL = "release-gate-other@e2e.test"
TOKEN = re.compile(r"[\x21-\x7e]+")  # a token goes in a header: visible ASCII, nothing else
SIGN_IN_CONCURRENCY = 16  # sign-ins in flight at once for "Given N signed-in users"


# The wording of "Given N signed-in users" (features/steps/sign_in_steps.py): how many users
# a scenario signs in, and then opens live sessions for at the same time.
CROWD_STEP = re.compile(r"^(\d+) signed-in users$")


def largest_crowd(features: Iterable[Any]) -> int:
    """The most users any scenario of these features signs in at once (Examples rows expanded)."""
    return max((int(match[1]) for feature in features for scenario in feature.walk_scenarios()
                for step in scenario.all_steps if (match := CROWD_STEP.match(step.name))),
               default=0)


def numbered_user_email(number: int) -> str:
    return f"release-gate-{number}@e2e.test"


# Whose users a sign-in makes: each scenario signs in users of its own (unique per run and
# scenario), so that no verdict depends on what an earlier scenario left on the platform
# (sessions held open, per-user limits, conversations).
_scenario_users: ContextVar[str] = ContextVar("stagecheck_scenario_users", default="")


def users_of_scenario(tag: str) -> Token[str]:
    """From now on, a sign-in as `release-gate@e2e.test` signs in this scenario's own user
    (`release-gate-<tag>@e2e.test`); reset with the returned token."""
    return _scenario_users.set(tag)


def end_scenario_users(token: Token[str]) -> None:
    _scenario_users.reset(token)


def own_email(email: str) -> str:
    """The scenario's own user for a user the steps name (the same one for the same name)."""
    tag = _scenario_users.get()
    if not tag:
        return email
    local, at, domain = email.partition("@")
    return f"{local}-{tag}{at}{domain}"


@dataclass(frozen=True)
class SignedInUser:
    user_id: str
    email: str
    token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)


def sign_in_url(target: Target) -> str:
    return f"{target.auth_url}/auth/e2e/test-auth"


def ask_sign_in(http: HttpClient, target: Target, email: str,
                 key: str | None = None) -> httpx.Response:
    """Ask the bypass to sign in `email` (already the scenario's own: see `own_email`)."""
    return http.post(sign_in_url(target), json_body={"email": email, "name": "Release Gate"},
                     headers={"X-E2E-Bypass-Key": target.bypass_key if key is None else key})


def bypass_sign_in(http: HttpClient, target: Target, email: str,
                   key: str | None = None) -> SignedInUser:
    """Sign the scenario's own E2E user for `email` in with the bypass key, checking the
    contract's answer."""
    return _checked(http, ask_sign_in(http, target, own_email(email), key))


def _checked(http: HttpClient, response: httpx.Response) -> SignedInUser:
    """The signed-in user of a sign-in answer, after checking it against the contract."""
    body = expect_json(http.log, response, 200, "the sign-in bypass should accept the key")
    expect(http.log, body, has_key("access_token"),
           f"the sign-in answer should carry an access token, but {describe(response, http.log)}")
    token, refresh = body["access_token"], body.get("refresh_token")
    wrong = [name for name, value, needed in (("access_token", token, True),
                                              ("refresh_token", refresh, False))
             if not _token_shaped(value) and (needed or value not in (None, ""))]
    expect(http.log, wrong, equal_to([]),
           f"the sign-in answer should carry its tokens as strings of visible ASCII, but "
           f"{' and '.join(wrong)} did not: {describe(response, http.log)}",
           summary=f"the sign-in issues {wrong[0] if wrong else 'a token'} in a wrong shape",
           classification=Classification.PRODUCT)
    expect(http.log, body.get("user"), instance_of(dict),
           f"the sign-in answer should describe the user, but {describe(response, http.log)}")
    return SignedInUser(str(body["user"].get("id")), str(body["user"].get("email")),
                        token, refresh or "")


def _token_shaped(value: Any) -> bool:
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


def signed_in_user(http: HttpClient, target: Target, email: str,
                   distinct: bool = False) -> SignedInUser:
    """A user for the scenario: signed in fresh when the key is known, else the given token."""
    if target.bypass_key:
        return bypass_sign_in(http, target, email)
    if distinct:
        raise NeedsBypassKey("this check needs distinct users, and only STAGING_TEST_JWT_TOKEN "
                             "is set: set E2E_OAUTH_SIMULATION_KEY to verify it")
    claims = jwt.decode(target.token, options={"verify_signature": False})
    return SignedInUser(str(claims.get("sub")), str(claims.get("email", "")), target.token)


def _resigned(user: SignedInUser, signing_key: str, issued: int, expires: int) -> str:
    """The user's own claims, signed again with `signing_key`, issued and expiring as given."""
    try:
        claims = jwt.decode(user.token, options={"verify_signature": False})
    except (jwt.PyJWTError, RecursionError) as exc:  # RecursionError: from the C JSON parser
        raise CheckFailed(f"the access token the platform issued is not a JSON Web Token "
                          f"with a JSON object of claims ({type(exc).__name__}), so no other "
                          "token can be made from it", "the sign-in issues tokens that are not "
                          "JSON Web Tokens", Classification.PRODUCT) from None
    claims.update(iat=issued, exp=expires, jti=str(uuid.uuid4()))
    return jwt.encode(claims, signing_key, algorithm="HS256")


def expired_token(user: SignedInUser, signing_key: str) -> str:
    """The user's own claims, signed with the platform's key, expired a minute ago."""
    now = int(time.time())
    return _resigned(user, signing_key, now - 1860, now - 60)


def fresh_token(user: SignedInUser, signing_key: str) -> str:
    """The user's own claims, signed with the same key as `expired_token`, valid for 15
    minutes: the control that the key is the platform's."""
    now = int(time.time())
    return _resigned(user, signing_key, now, now + 900)


def signed_in_users(http: HttpClient, target: Target, emails: list[str],
                    concurrency: int = SIGN_IN_CONCURRENCY) -> list[SignedInUser]:
    """Users for the scenario, signed in `concurrency` at a time (the requests in threads on
    the run's one HTTP client, each recorded as it completes); every answer is then checked
    in order, as `signed_in_user` checks one."""
    if not target.bypass_key:
        return [signed_in_user(http, target, email) for email in emails]
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(emails))),
                            thread_name_prefix="sign-in") as pool:
        # The scenario's own users, named here: the pool's threads do not see its context.
        answers = [pool.submit(ask_sign_in, http, target, own_email(email)) for email in emails]
    return [_checked(http, answer.result()) for answer in answers]


def forged_token(user: SignedInUser | None = None) -> str:
    """A well-formed token with the contract's claims, signed with a key the platform lacks."""
    now = int(time.time())
    return jwt.encode({"sub": user.user_id if user else str(uuid.uuid4()),
                       "email": "forged@example.com", "permissions": ["read"], "iat": now,
                       "exp": now + 900, "token_type": "access", "type": "access",
                       "iss": "netra-auth-service",
                       "aud": "netra-platform", "jti": str(uuid.uuid4())},
                      "not-the-platform-key-" + uuid.uuid4().hex, algorithm="HS256")
