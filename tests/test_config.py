"""Settings: defaults, staging from the contract's variables, one-sentence errors."""

from __future__ import annotations

import pytest

from stagecheck.config.settings import load_settings
from stagecheck.errors import ConfigError

STAGING = {"STAGING_BASE_URL": "https://api.staging.example.com",
           "E2E_OAUTH_SIMULATION_KEY": "k" * 16}


def test_defaults_target_the_embedded_stand_in() -> None:
    settings = load_settings({}, {})
    assert settings.target == "local" and settings.standin_faults == ()
    assert (settings.health_timeout, settings.ws_event_timeout, settings.agent_timeout,
            settings.http_timeout) == (5.0, 15.0, 60.0, 30.0)


def test_staging_urls_come_from_the_environment_with_derived_defaults() -> None:
    settings = load_settings({"target": "staging"}, STAGING)
    assert settings.base_url == "https://api.staging.example.com"
    assert settings.auth_url == settings.base_url
    assert settings.ws_url == "wss://api.staging.example.com/ws"
    assert settings.bypass_key == "k" * 16 and "k" * 16 not in repr(settings)


def test_userdata_urls_override_the_environment() -> None:
    settings = load_settings({"target": "staging", "base_url": "https://b.example/",
                              "ws_url": "wss://w.example/ws"}, STAGING)
    assert (settings.base_url, settings.ws_url) == ("https://b.example", "wss://w.example/ws")


def test_several_faults_separated_by_commas() -> None:
    assert load_settings({"standin_fault": "hang, db-down"}, {}).standin_faults == ("hang", "db-down")


@pytest.mark.parametrize(("userdata", "environ", "words"), [
    ({"colour": "blue"}, {}, "unknown setting 'colour'"),
    ({"target": "moon"}, {}, "setting target must be one of local, staging"),
    ({"health_timeout": "-1"}, {}, "health_timeout must be a positive number"),
    ({"agent_timeout": "soon"}, {}, "agent_timeout must be a number of seconds"),
    ({"http_timeout": "nan"}, {}, "http_timeout must be a positive number"),
    ({"target": "staging"}, {}, "needs the backend URL"),
    ({"target": "staging"}, {"STAGING_BASE_URL": "https://x.example"}, "needs credentials"),
    ({"target": "staging", "base_url": "ftp://x"}, STAGING, "setting base_url must be a http://"),
    ({"target": "staging", "base_url": "https://x:port"}, STAGING, "malformed port"),
    ({"target": "staging", "base_url": "http://api.example.com"}, STAGING,
     "refusing to send credentials unencrypted"),
    ({"target": "staging", "standin_fault": "hang"}, STAGING, "only applies to target=local"),
])
def test_bad_settings_are_refused_in_one_sentence(userdata, environ, words) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(userdata, environ)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_plain_http_is_allowed_to_loopback() -> None:
    settings = load_settings({"target": "staging", "base_url": "http://127.0.0.1:8000"}, STAGING)
    assert settings.ws_url == "ws://127.0.0.1:8000/ws"
