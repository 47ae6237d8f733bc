"""A verdict to trust on a real staging: a refusal counts only once the same endpoint has served
a valid caller in the same scenario, an expired token only once a fresh token signed with the
same key was accepted, and the operator's credentials are checked before anything is judged.
Each control that fails names the setting, leaves its scenario not verified (configuration), and
never leaks a secret. Real stand-ins and servers on loopback, the gate run as a subprocess."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from stagecheck.config.credentials import check_credential, check_token
from stagecheck.errors import ConfigError
from standin import start_standin
from tests.behave_run import FAST, run_behave
from tests.hostile import closed_port, http_server

NO_TOKEN = "A live session without a token is refused"
BAD_TOKEN = "A live session with an invalid token is refused"
EXPIRED_SESSION = "A live session with an expired token is refused"
TEST_HEADER = "A forged token is refused even from a caller posing as the platform's own tests"
EXPIRED_API = "An expired token is refused by the platform's API"
FOREIGN_KEY = "A token signed with another key is refused by the platform's API"
REFRESH = "A token meant only to renew a sign-in is not accepted in place of an access token"
SIGNED_OUT = "A token that was signed out no longer works"
ANONYMOUS = "The conversation endpoints refuse callers who are not signed in"
SESSION_REFUSALS = [NO_TOKEN, BAD_TOKEN, EXPIRED_SESSION, TEST_HEADER]
API_REFUSALS = [EXPIRED_API, FOREIGN_KEY, REFRESH, SIGNED_OUT, ANONYMOUS]
CONFIGURATION = "configuration"
WRONG_SIGNING_KEY = "not-the-platform-signing-key-0123456789abcdef"


def names(*scenarios: str) -> list[str]:
    """behave's --name options selecting exactly these scenarios."""
    return [arg for name in scenarios for arg in ("-n", f"^{_escape(name)}$")]


def _escape(name: str) -> str:
    return "".join(f"\\{c}" if c in ".^$*+?()[]{}|\\" else c for c in name)


def staging(tmp_path: Path, standin, *args: str, env: dict[str, str] | None = None):
    """The gate against a stand-in started here, as a deployed target with its credentials."""
    return run_behave(tmp_path, "--tags=@p1 or @p2", "-D", "target=staging",
                      "-D", f"base_url={standin.urls.backend_url}", *FAST, *args,
                      env={"E2E_OAUTH_SIMULATION_KEY": standin.bypass_key,
                           "STAGING_JWT_SECRET_KEY": standin.signing_key, **(env or {})})


def scenarios(tmp_path: Path) -> dict[str, dict]:
    data = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    return {s["name"]: s for s in data["scenarios"]}


def failing_step(scenario: dict) -> str:
    return next(s["name"] for s in scenario["steps"] if s["status"] in ("failed", "error"))


def everything_written(tmp_path: Path, run) -> str:
    """The console and every file the run wrote."""
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()] \
        if (tmp_path / "reports").exists() else []
    return "\n".join([run.stdout, run.stderr, *(p.read_text(errors="replace") for p in files
                                                if p.suffix != ".sqlite")])


def assert_not_verified_for(found: dict, setting_words: tuple[str, ...]) -> None:
    assert found["status"] != "passed", found["name"]
    assert found["classification"] == CONFIGURATION, (found["name"], found["classification"])
    for words in setting_words:
        assert words in found["error_message"], (found["name"], found["error_message"])


def refused_before_the_first_scenario(tmp_path: Path, run, words: tuple[str, ...]) -> None:
    """One sentence naming the setting, exit 2, nothing judged: no scenario ran, and latest's
    verdict.json says why."""
    assert run.returncode == 2, run.stdout[-2000:]
    (sentence,) = [line for line in run.stderr.splitlines() if line.startswith("stagecheck: ")]
    for word in words:
        assert word in sentence, sentence
    assert run.stdout.strip().splitlines()[-1].startswith("Release gate: could not judge · ")
    verdict = json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())
    assert verdict["decision"] is None and verdict["reason"] == sentence.removeprefix("stagecheck: ")
    assert not (tmp_path / "reports" / "latest" / "results.json").exists()


def test_a_websocket_url_that_serves_no_platform_is_the_operators_setting(tmp_path: Path) -> None:
    """`/wss` for `/ws`: Starlette answers 403 to every handshake there. A refusal check alone
    takes that for a refusal (GO on a platform whose refusals were never tried), and the
    scenarios that open sessions for a product defect (NO-GO): it is the setting, said once."""
    with start_standin() as standin:
        typo = standin.urls.ws_url + "s"
        run = staging(tmp_path, standin, "-D", f"ws_url={typo}")
    refused_before_the_first_scenario(tmp_path, run, (
        f"the WebSocket URL {typo} refuses a signed-in user's handshake (403) and an anonymous "
        "one alike", "-D ws_url / STAGING_WEBSOCKET_URL"))


def test_a_ready_made_token_the_platform_refuses_is_the_operators_setting(tmp_path: Path) -> None:
    """STAGING_TEST_JWT_TOKEN signed with another key, on the era that refuses bad tokens at the
    handshake: the platform (its health its own) refuses it, which names the token, not a URL."""
    with start_standin(variant="handshake-403") as standin:
        now = int(time.time())
        token = jwt.encode({"sub": "u1", "email": "u1@e2e.test", "token_type": "access",
                            "type": "access", "iat": now, "exp": now + 600}, WRONG_SIGNING_KEY,
                           algorithm="HS256")
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging",
                         "-D", f"base_url={standin.urls.backend_url}", *FAST,
                         env={"E2E_OAUTH_SIMULATION_KEY": "", "STAGING_TEST_JWT_TOKEN": token})
    refused_before_the_first_scenario(tmp_path, run, (
        "the platform refused STAGING_TEST_JWT_TOKEN (", "answered 401",
        "the token is not this platform's"))
    assert token not in run.stdout + run.stderr


def test_a_sign_in_answer_nested_too_deep_is_left_to_the_scenarios(tmp_path: Path) -> None:
    """The check before the first scenario reads the sign-in with its nesting bounded: a hostile
    answer is the scenarios' to judge (the product's), never a crash of the check."""
    with start_standin() as standin, http_server(200, b"[" * 100_000) as auth:
        run = staging(tmp_path, standin, "-D", f"auth_url={auth}", "--tags=@p1")
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr, run.stderr[-2000:]
    assert "nested deeper than 64 levels" in json.dumps(scenarios(tmp_path))


@pytest.mark.parametrize("gateway", ["wrong path", "403 for every path"])
def test_an_api_base_that_serves_no_platform_is_the_operators_setting(tmp_path: Path,
                                                                       gateway: str) -> None:
    """A base path with `/v2` appended (404 everywhere), or a gateway answering 403 to every
    path: the refusal checks alone take both for refusals, the other scenarios for product
    defects. A signed-in user refused there before the first scenario names the setting."""
    with start_standin() as standin, http_server(403, b'{"message": "Forbidden"}') as forbidden:
        base = standin.urls.backend_url + "/v2" if gateway == "wrong path" else forbidden
        run = staging(tmp_path, standin, "-D", f"base_url={base}",
                      "-D", f"auth_url={standin.urls.backend_url}",
                      "-D", f"ws_url={standin.urls.ws_url}")
    status = "404" if gateway == "wrong path" else "403"
    refused_before_the_first_scenario(tmp_path, run, (
        f"the API at {base} does not serve the platform's signed-in users",
        f"GET {base}/api/threads answered {status}", "-D base_url / STAGING_BASE_URL"))


@pytest.mark.parametrize("key", ["wrong", "right"])
def test_the_expired_token_scenarios_first_prove_the_signing_key(tmp_path: Path,
                                                                 key: str) -> None:
    """The platform accepts expired tokens: with the wrong key the gate cannot tell (both
    scenarios not verified, the key named); with the right key both fail as the product's."""
    with start_standin(faults=["expired-token-accepted"]) as standin:
        signing_key = WRONG_SIGNING_KEY if key == "wrong" else standin.signing_key
        run = staging(tmp_path, standin, *names(EXPIRED_API, EXPIRED_SESSION),
                      env={"STAGING_JWT_SECRET_KEY": signing_key})
        found = scenarios(tmp_path)
        written = everything_written(tmp_path, run)
    assert signing_key not in written and standin.bypass_key not in written
    if key == "wrong":
        for name, control in ((EXPIRED_API, "a fresh token made with the platform's signing "
                                             "key can list them too"),
                              (EXPIRED_SESSION, "a fresh token made with the platform's signing "
                                                "key is let in too")):
            assert_not_verified_for(found[name], (
                "the signing key is not the platform's (STAGING_JWT_SECRET_KEY): a fresh token "
                "signed with it was refused", "so the expired one proves nothing"))
            assert failing_step(found[name]) == control
    else:
        for name, then in ((EXPIRED_API, "the request is refused"),
                           (EXPIRED_SESSION, "the session is refused")):
            assert found[name]["status"] == "failed"
            assert found[name]["classification"] == "product defect"
            assert failing_step(found[name]) == then
        assert run.returncode == 1


EXPIRED = jwt.encode({"sub": "u", "iat": 1_700_000_000 - 900, "exp": 1_700_000_000},
                     "k" * 32, algorithm="HS256")
GOOD_KEY = "a-good-bypass-key-4242-abcdef"
# (environment, the sentence's words, the secrets that must appear nowhere)
BAD_CREDENTIALS = {
    "key with a trailing newline": (
        {"E2E_OAUTH_SIMULATION_KEY": "bypass-key-with-newline-7731\n"},
        "E2E_OAUTH_SIMULATION_KEY ends with a newline", ["bypass-key-with-newline-7731"]),
    "key with a leading space": (
        {"E2E_OAUTH_SIMULATION_KEY": " bypass-key-with-space-7731"},
        "E2E_OAUTH_SIMULATION_KEY begins with a space", ["bypass-key-with-space-7731"]),
    "key outside ASCII": (
        {"E2E_OAUTH_SIMULATION_KEY": "bypass-clé-7731-secret"},
        "E2E_OAUTH_SIMULATION_KEY holds a character outside ASCII", ["bypass-cl", "7731-secret"]),
    "key with a control character": (
        {"E2E_OAUTH_SIMULATION_KEY": "bypass-bell\x07-7731-secret"},
        "E2E_OAUTH_SIMULATION_KEY holds a control character", ["bypass-bell", "7731-secret"]),
    "token with a trailing newline": (
        {"STAGING_TEST_JWT_TOKEN": EXPIRED + "\n"},
        "STAGING_TEST_JWT_TOKEN ends with a newline", [EXPIRED, EXPIRED.split(".")[2]]),
    "token that is not a JWT": (
        {"STAGING_TEST_JWT_TOKEN": "not-a-jwt-token-secret-5511"},
        "STAGING_TEST_JWT_TOKEN is not a JWT", ["not-a-jwt-token-secret-5511"]),
    "expired token": (
        {"STAGING_TEST_JWT_TOKEN": EXPIRED},
        "STAGING_TEST_JWT_TOKEN expired at 2023-11-14 22:13:20 UTC; get a fresh one",
        [EXPIRED, EXPIRED.split(".")[2]]),
    "signing key with a trailing newline": (
        {"E2E_OAUTH_SIMULATION_KEY": GOOD_KEY, "STAGING_JWT_SECRET_KEY": "signing-key-8812\n"},
        "STAGING_JWT_SECRET_KEY ends with a newline", ["signing-key-8812", GOOD_KEY]),
}


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
def test_a_bad_credential_stops_the_run_in_one_sentence(tmp_path: Path, case: str) -> None:
    environ, words, secrets = BAD_CREDENTIALS[case]
    with closed_port() as nowhere:  # nothing may be contacted
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging",
                         "-D", f"base_url={nowhere}",
                         env={"E2E_OAUTH_SIMULATION_KEY": "", "STAGING_TEST_JWT_TOKEN": "",
                              "STAGING_JWT_SECRET_KEY": "", **environ})
    assert run.returncode == 2
    said = [line for line in run.stderr.splitlines() if line.startswith("stagecheck: ")]
    assert len(said) == 1 and words in said[0], run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "reports").exists()  # nothing judged, nothing written
    for secret in secrets:
        assert secret not in run.stdout + run.stderr, case


@pytest.mark.parametrize("where", ["wrong key", "no sign-in bypass at the auth URL"])
def test_the_operators_bypass_key_is_tried_before_the_first_scenario(tmp_path: Path,
                                                                     where: str) -> None:
    wrong = "wrong-bypass-key-for-this-platform-9931"
    with start_standin() as standin:
        key = wrong if where == "wrong key" else standin.bypass_key
        auth = standin.urls.backend_url + ("" if where == "wrong key" else "/elsewhere")
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging",
                         "-D", f"base_url={standin.urls.backend_url}", "-D", f"auth_url={auth}",
                         env={"E2E_OAUTH_SIMULATION_KEY": key})
    said = ("the platform refused E2E_OAUTH_SIMULATION_KEY (401, 'Invalid E2E bypass key'): "
            "the key is not this platform's" if where == "wrong key" else
            f"the auth URL {auth} has no sign-in bypass (POST answered 404); check -D auth_url "
            "/ STAGING_AUTH_URL")
    assert run.returncode == 2
    assert said in run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("Release gate: could not judge · ") and said in last
    assert last.endswith("· exit 2")
    verdict = json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())
    assert verdict["decision"] is None and verdict["exit_code"] == 2  # nothing judged, said so
    assert not (tmp_path / "reports" / "latest" / "report.md").exists()
    assert all(s["status"] in ("skipped", "untested") for s in run.scenarios.values())
    written = everything_written(tmp_path, run)
    assert wrong not in written and standin.bypass_key not in written


def test_a_platform_refusing_every_key_is_its_defect_on_the_stand_in(tmp_path: Path) -> None:
    """On the embedded stand-in the gate knows the key is right, so `bypass-rejected` is the
    platform's defect, judged (NO-GO); on a deployed target the same answer cannot be told
    from a wrong key, and the run says both in one sentence instead of judging."""
    local = run_behave(tmp_path / "local", "--tags=@p1", "-D", "standin_fault=bypass-rejected",
                       *names("A test user signs in through the staging sign-in bypass"))
    assert local.returncode == 1
    with start_standin(faults=["bypass-rejected"]) as standin:
        deployed = run_behave(tmp_path / "deployed", "--tags=@p1", "-D", "target=staging",
                              "-D", f"base_url={standin.urls.backend_url}",
                              env={"E2E_OAUTH_SIMULATION_KEY": standin.bypass_key})
    assert deployed.returncode == 2
    assert "(or its sign-in bypass refuses every key)" in deployed.stderr


@pytest.mark.parametrize(("value", "words"), [
    ("sEcReT\n", "ends with a newline"), ("sEcReT\r", "ends with a carriage return"),
    ("sEcReT\t", "ends with a tab"), ("\tsEcReT", "begins with a tab"),
    ("sEc\u00a0ReT", "outside ASCII"), ("sEc\x00ReT", "control character"),
    ("sEc\x7fReT", "control character"), ("sEcReT\u2028", "ends with whitespace")])
def test_a_credential_must_be_one_line_of_printable_ascii(value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as refused:
        check_credential("E2E_OAUTH_SIMULATION_KEY", value)
    assert str(refused.value).startswith("E2E_OAUTH_SIMULATION_KEY ")
    assert "sEc" not in str(refused.value) and "ReT" not in str(refused.value)
    assert check_credential("E2E_OAUTH_SIMULATION_KEY", "a-Good_key.~+/=") == "a-Good_key.~+/="


def test_a_ready_made_token_is_read_without_its_signature() -> None:
    fresh = jwt.encode({"sub": "u", "exp": 2_000_000_000}, "x" * 32, algorithm="HS256")
    assert check_token(fresh, now=1_999_999_999) == fresh
    with pytest.raises(ConfigError, match="expired at 2033-05-18 03:33:20 UTC"):
        check_token(fresh, now=2_000_000_000)
    timeless = jwt.encode({"sub": "u"}, "x" * 32, algorithm="HS256")
    assert check_token(timeless) == timeless  # no exp: nothing to say up front
    for broken in ("a.b", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"):
        with pytest.raises(ConfigError, match="STAGING_TEST_JWT_TOKEN is not a JWT"):
            check_token(broken)
