"""Settings of a run: behave userdata (`-D`, `[tool.behave.userdata]`) and the contract's
environment variables, checked before the first scenario."""

from __future__ import annotations

import ipaddress
import math
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from .exchanges import redact_url, url_secrets

TARGETS = ("local", "staging", "production")
DURATIONS = {"http_timeout": 30.0, "health_timeout": 5.0, "ws_event_timeout": 15.0,
             "agent_timeout": 60.0, "connect_timeout": 10.0,
             "notify_timeout": 5.0, "service_deadline": 900.0}
TEXT = {"target": "local", "standin_fault": "", "standin_variant": "", "base_url": "",
        "auth_url": "", "ws_url": "", "report_dir": "reports", "database_url": "",
        "expected_revision": "", "history": "", "shard": "", "shard_timings": "",
        "notify": "", "metrics_file": "", "report_base_url": "", "service_targets": "",
        "load_python": ""}
FLAGS = ("insecure_tls", "allow_destructive", "partial")
COUNTS = {"keep_runs": 50, "at_risk_exit": 3, "service_queue": 8, "load_workers": 0}
SCALES = {"load_scale": 1.0}  # load tier: users and durations of the Examples times this
# Userdata that runners of behave add for themselves (behavex: each worker's number); accepted
# and not used.
IGNORED = {"worker_id"}
KNOWN = set(DURATIONS) | set(TEXT) | set(FLAGS) | set(COUNTS) | set(SCALES) | IGNORED
AT_RISK_EXITS = (0, 3)
SERVICE_TARGETS = ("staging", "production")  # named targets the service may add to local
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Settings:
    """Every setting of the run, typed and checked."""

    target: str = "local"
    standin_faults: tuple[str, ...] = ()
    standin_variant: str = ""  # "" is the stand-in's default variant
    base_url: str = ""
    auth_url: str = ""
    ws_url: str = ""
    report_dir: str = "reports"
    database_url: str = ""
    expected_revision: str = ""
    history: str = ""  # the run history database; "" means <report_dir>/history.sqlite
    http_timeout: float = 30.0
    health_timeout: float = 5.0
    ws_event_timeout: float = 15.0
    agent_timeout: float = 60.0
    connect_timeout: float = 10.0
    insecure_tls: bool = False
    allow_destructive: bool = True
    shard: tuple[int, int] | None = None  # (K, N): run the K-th of N shares of the selection
    shard_timings: str = ""    # a results.json whose durations balance the shards
    keep_runs: int = 50        # run folders and history rows kept; 0 keeps everything
    at_risk_exit: int = 3      # the exit status of an AT RISK verdict: 3, or 0 to let it pass
    notify: tuple[str, ...] = ()  # Slack-compatible incoming webhooks (https, or loopback http)
    notify_timeout: float = 5.0
    metrics_file: str = ""     # a Prometheus textfile-collector file written after each run
    report_base_url: str = ""  # reports are published at <base>/<run-id>/report.html
    service_targets: tuple[str, ...] = ()  # named targets `stagecheck serve` allows beside local
    service_queue: int = 8     # runs the service holds at once (running or waiting)
    service_deadline: float = 900.0  # seconds a service run may take
    load_scale: float = 1.0    # the load tier's users and durations times this (0.1: a quick run)
    load_workers: int = 0      # Locust workers beside its master; 0 runs Locust alone
    load_python: str = ""      # the Python that runs Locust; "" is the one running behave
    partial: bool = False      # a part of the run (a behavex worker's): merged by stagecheck merge
    bypass_key: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    signing_key: str = field(default="", repr=False)  # STAGING_JWT_SECRET_KEY: signs expired tokens

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials: the key, the token, and those the URLs carry."""
        from_urls = (s for url in (self.base_url, self.auth_url, self.ws_url, self.database_url)
                     for s in url_secrets(url))
        return tuple(s for s in (self.bypass_key, self.token, self.signing_key, *from_urls) if s)


def _duration(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"setting {name} must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"setting {name} must be a positive number of seconds, not {raw!r}")
    return value


def _count(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"setting {name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"setting {name} must be 0 or more, not {raw!r}")
    return value


def _scale(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"setting {name} must be a number, like 0.1, not {raw!r}") from None
    if not math.isfinite(value) or not 0 < value <= 100:
        raise ConfigError(f"setting {name} must be more than 0 and at most 100, not {raw!r}")
    return value


def _flag(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"setting {name} must be true or false, not {raw!r}")
    return value in _TRUE


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(name: str, url: str, schemes: tuple[str, ...]) -> str:
    """The URL without a trailing slash, or ConfigError naming the setting."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"setting {name} must be a {' or '.join(s + '://' for s in schemes)} "
                          f"URL with a host, not {redact_url(url)!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError(f"setting {name} has a malformed port: {redact_url(url)!r}") from None
    return url.rstrip("/")


def _check_standin(variant: str, faults: tuple[str, ...]) -> None:
    """The stand-in can play this variant with these faults, or ConfigError saying why not."""
    from standin import FAULTS, VARIANTS, StandinError, check_combination  # its public API only

    unknown = [name for name in faults if name not in FAULTS]
    if unknown:
        raise ConfigError(f"setting standin_fault names an unknown fault {unknown[0]!r}; "
                          f"known faults: {', '.join(FAULTS)}")
    if variant and variant not in VARIANTS:
        raise ConfigError(f"setting standin_variant names an unknown variant {variant!r}; "
                          f"known variants: {', '.join(VARIANTS)}")
    try:
        check_combination(variant or "default", faults)
    except StandinError as exc:
        raise ConfigError(f"setting standin_variant={variant or 'default'} and standin_fault "
                          f"cannot combine: {exc}") from None


def _shard(raw: str, timings: str) -> tuple[int, int] | None:
    """`K/N` with 1 ≤ K ≤ N, or None when not sharded."""
    if not raw:
        if timings:
            raise ConfigError("setting shard_timings only applies with -D shard=K/N")
        return None
    index, slash, count = raw.partition("/")
    if not (slash and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise ConfigError(f"setting shard must be K/N with 1 <= K <= N, like 2/4, not {raw!r}")
    if timings and not Path(timings).is_file():
        raise ConfigError(f"setting shard_timings names no file: {timings!r}")
    return int(index), int(count)


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) sets for `url`,
    as httpx and websockets read it; "" for none."""
    variables = os.environ if environ is None else environ
    proxies = {k.lower().removesuffix("_proxy"): v for k, v in variables.items()
               if k.lower().endswith("_proxy") and v}
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]  # in urllib, not in typeshed
        return ""
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return proxies.get(scheme) or proxies.get("all") or ""


def check_proxies(urls: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
    """Proxies are used only where TLS runs end to end (https://, wss://); a proxy set for a
    plain-text URL would see the credentials, so the run refuses before sending anything."""
    for name, url in urls.items():
        proxy = proxy_for(url, environ)
        if proxy and urlsplit(url).scheme in ("http", "ws"):
            raise ConfigError(f"refusing to send credentials in clear text through the proxy "
                              f"{redact_url(proxy)} set in the environment for {name} "
                              f"{redact_url(url)}: use https:// and wss://, or add "
                              f"{urlsplit(url).hostname} to NO_PROXY")


def check_database_url(url: str) -> None:
    """The schema probe's database URL parses, its driver imports, and a SQLite file exists
    (the probe opens it read-only and never creates one), or ConfigError saying which."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = redact_url(url)
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except ArgumentError:
        raise ConfigError(f"setting database_url is not a database URL: {shown!r}") from None
    except NoSuchModuleError:
        raise ConfigError(f"setting database_url names an unknown database kind: {shown!r}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        driver = exc.name or parsed.drivername
        raise ConfigError(f"setting database_url needs the database driver {driver!r}, "
                          "which is not installed") from None
    if (parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
            and not Path(parsed.database or "").is_file()):
        raise ConfigError(f"setting database_url names a SQLite file that does not exist: "
                          f"{parsed.database}")


def _notify_urls(raw: str) -> tuple[str, ...]:
    """Each incoming-webhook URL: https, or http on loopback (the summary is business data).
    A webhook URL is a secret: messages name only its scheme and host."""
    urls = []
    for url in (u.strip() for u in raw.split(",") if u.strip()):
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.hostname or ''}"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"setting notify must be https:// URLs of incoming webhooks, not {where}…")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(f"setting notify refuses plain http:// to {where}, which is not "
                              "loopback: use https://")
        urls.append(url)
    return tuple(urls)


def _service_targets(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if name not in SERVICE_TARGETS:
            raise ConfigError(f"setting service_targets names {name!r}; the service can add "
                              f"{' and '.join(SERVICE_TARGETS)} to the stand-in targets")
    return names


def load_settings(userdata: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raises ConfigError with one sentence naming the setting."""
    environ = os.environ if environ is None else environ
    unknown = sorted(set(userdata) - KNOWN)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(KNOWN))}")
    raw = {**TEXT, **{k: str(v).strip() for k, v in userdata.items() if k in TEXT}}
    durations = {name: _duration(name, str(userdata.get(name, default)))
                 for name, default in DURATIONS.items()}
    counts = {name: _count(name, str(userdata.get(name, default)).strip())
              for name, default in COUNTS.items()}
    if counts["at_risk_exit"] not in AT_RISK_EXITS:
        raise ConfigError(f"setting at_risk_exit must be 3 (AT RISK fails the pipeline) or 0 (it "
                          f"passes), not {counts['at_risk_exit']}")
    shard = _shard(raw["shard"], raw["shard_timings"])
    if counts["service_queue"] < 1:
        raise ConfigError("setting service_queue must be 1 or more, not 0")
    notify = _notify_urls(raw["notify"])
    report_base_url = check_url("report_base_url", raw["report_base_url"], ("http", "https")) \
        if raw["report_base_url"] else ""
    service_targets = _service_targets(raw["service_targets"])
    if raw["metrics_file"] and not raw["metrics_file"].endswith(".prom"):
        raise ConfigError("setting metrics_file must end in .prom (the textfile collector reads "
                          f"only those), not {raw['metrics_file']!r}")
    partial = _flag("partial", userdata.get("partial"), False)
    if partial and shard:
        raise ConfigError("setting partial and shard cannot combine: a run is either shard K/N "
                          "or a part of a behavex run")
    load_scale = _scale("load_scale", str(userdata.get("load_scale", SCALES["load_scale"])).strip())
    if raw["load_python"] and not Path(raw["load_python"]).is_file():
        raise ConfigError(f"setting load_python names no file: {raw['load_python']!r}")
    target = raw["target"]
    if target not in TARGETS:
        raise ConfigError(f"setting target must be one of {', '.join(TARGETS)}, not {target!r}")
    faults = tuple(f.strip() for f in raw["standin_fault"].split(",") if f.strip())
    variant = raw["standin_variant"]
    for name, given in (("standin_fault", faults), ("standin_variant", variant)):
        if given and target != "local":
            raise ConfigError(f"setting {name} only applies to target=local")
    if target == "local":
        _check_standin(variant, faults)
    bypass_key = environ.get("E2E_OAUTH_SIMULATION_KEY", "")
    token = environ.get("STAGING_TEST_JWT_TOKEN", "")
    signing_key = environ.get("STAGING_JWT_SECRET_KEY", "") if target == "staging" else ""
    urls = {"base_url": "", "auth_url": "", "ws_url": ""}
    insecure_tls = _flag("insecure_tls", userdata.get("insecure_tls"), False)
    # Data written on the throwaway stand-in harms no one; elsewhere it must be asked for.
    allow_destructive = _flag("allow_destructive", userdata.get("allow_destructive"),
                              target == "local")
    if target == "production" and allow_destructive:
        raise ConfigError("scenarios that write data never run against production: "
                          "remove allow_destructive=true")
    if target != "local":
        # Production is named explicitly, never taken from the STAGING_* variables.
        env = environ if target == "staging" else {}
        base = raw["base_url"] or env.get("STAGING_BASE_URL", "")
        if not base:
            raise ConfigError(f"target={target} needs the backend URL: "
                              + ("set STAGING_BASE_URL or -D base_url=" if target == "staging"
                                 else "set -D base_url="))
        base = check_url("base_url", base, ("http", "https"))
        auth = check_url("auth_url", raw["auth_url"] or env.get("STAGING_AUTH_URL", "") or base,
                         ("http", "https"))
        default_ws = "ws" + base[4:] + "/ws"
        ws = check_url("ws_url", raw["ws_url"] or env.get("STAGING_WEBSOCKET_URL", "")
                       or default_ws, ("ws", "wss"))
        if not (bypass_key or token):
            raise ConfigError(f"target={target} needs credentials: set E2E_OAUTH_SIMULATION_KEY "
                              "or STAGING_TEST_JWT_TOKEN")
        urls = {"base_url": base, "auth_url": auth, "ws_url": ws}
        check_proxies(urls, environ)
        for url in urls.values():
            parts = urlsplit(url)
            if parts.scheme in ("http", "ws") and not is_loopback(parts.hostname or ""):
                raise ConfigError(f"refusing to send credentials unencrypted to {redact_url(url)}: use "
                                  "https:// and wss://, or a loopback address")
    if raw["database_url"]:
        check_database_url(raw["database_url"])
    return Settings(target=target, standin_faults=faults, standin_variant=variant,
                    report_dir=raw["report_dir"] or "reports",
                    database_url=raw["database_url"], expected_revision=raw["expected_revision"],
                    history=raw["history"] or str(Path(raw["report_dir"] or "reports")
                                                  / "history.sqlite"),
                    insecure_tls=insecure_tls, allow_destructive=allow_destructive,
                    keep_runs=counts["keep_runs"], at_risk_exit=counts["at_risk_exit"],
                    shard=shard, shard_timings=raw["shard_timings"],
                    load_scale=load_scale, load_workers=counts["load_workers"],
                    load_python=raw["load_python"], partial=partial,
                    bypass_key=bypass_key, token=token, signing_key=signing_key,
                    base_url=urls["base_url"], auth_url=urls["auth_url"], ws_url=urls["ws_url"],
                    http_timeout=durations["http_timeout"],
                    health_timeout=durations["health_timeout"],
                    ws_event_timeout=durations["ws_event_timeout"],
                    agent_timeout=durations["agent_timeout"],
                    connect_timeout=durations["connect_timeout"],
                    notify=notify, notify_timeout=durations["notify_timeout"],
                    metrics_file=raw["metrics_file"], report_base_url=report_base_url,
                    service_targets=service_targets, service_queue=counts["service_queue"],
                    service_deadline=durations["service_deadline"])
