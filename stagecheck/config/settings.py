"""Settings of a run: behave userdata (`-D`, `[tool.behave.userdata]`) and the contract's
environment variables, checked before the first scenario."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..client.redact import redact_url, url_secrets
from ..errors import ConfigError
from ..vocabulary import TargetKind
from .credentials import read_credentials
from .values import (
    check_database_url,
    check_proxies,
    check_standin,
    check_url,
    is_loopback,
    parse_count,
    parse_duration,
    parse_flag,
    parse_notify_urls,
    parse_scale,
    parse_service_targets,
    parse_shard,
    parse_workers,
)

DURATIONS = {"http_timeout": 30.0, "health_timeout": 5.0, "ws_event_timeout": 15.0,
             "agent_timeout": 60.0, "connect_timeout": 10.0,
             "notify_timeout": 5.0, "service_deadline": 900.0}
TEXT = {"target": "local", "standin_fault": "", "standin_variant": "", "base_url": "",
        "auth_url": "", "ws_url": "", "report_dir": "reports", "database_url": "",
        "expected_revision": "", "expected_version": "", "history": "", "shard": "", "shard_timings": "",
        "notify": "", "metrics_file": "", "report_base_url": "", "service_targets": "",
        "load_python": "", "workers": "", "workers_after": "2", "catalog_url": ""}
FLAGS = ("insecure_tls", "allow_destructive", "partial")
COUNTS = {"keep_runs": 50, "at_risk_exit": 3, "service_queue": 8, "load_workers": 0}
SCALES = {"load_scale": 1.0}  # load tier: users and durations of the Examples times this
# Userdata that runners of behave add for themselves (behavex: each worker's number); accepted
# and not used.
IGNORED = {"worker_id"}
KNOWN = set(DURATIONS) | set(TEXT) | set(FLAGS) | set(COUNTS) | set(SCALES) | IGNORED
AT_RISK_EXITS = (0, 3)


@dataclass(frozen=True)
class Settings:
    """Every setting of the run, typed and checked."""

    target: TargetKind = TargetKind.LOCAL
    standin_faults: tuple[str, ...] = ()
    standin_variant: str = ""  # "" is the stand-in's default variant
    base_url: str = ""
    auth_url: str = ""
    ws_url: str = ""
    report_dir: str = "reports"
    database_url: str = ""
    expected_revision: str = ""
    expected_version: str = ""  # the build being released, as the backend's health names it
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
    workers: int = 1           # scenarios at once, each worker a behave process (staging: auto)
    workers_after: float = 2.0  # another worker starts while those left keep each busy this long
    catalog_url: str = ""      # where report.html links scenarios ("": the catalog beside it)
    load_python: str = ""      # the Python that runs Locust; "" is the one running behave
    partial: bool = False      # a part of the run (a behavex worker's): merged by stagecheck merge
    bypass_key: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    signing_key: str = field(default="", repr=False)  # STAGING_JWT_SECRET_KEY: signs expired tokens

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials: the key, the token, and those the URLs carry."""
        from_urls = (s for url in (self.base_url, self.auth_url, self.ws_url, self.database_url,
                                   self.report_base_url)
                     for s in url_secrets(url))
        return tuple(s for s in (self.bypass_key, self.token, self.signing_key, *from_urls) if s)


def _outputs(raw: Mapping[str, str], counts: Mapping[str, int], userdata: Mapping[str, str]
             ) -> dict[str, Any]:
    """The settings of what a run leaves behind, of the service, of shards and of the load tier."""
    if counts["at_risk_exit"] not in AT_RISK_EXITS:
        raise ConfigError(f"setting at_risk_exit must be 3 (AT RISK fails the pipeline) or 0 (it "
                          f"passes), not {counts['at_risk_exit']}")
    shard = parse_shard(raw["shard"], raw["shard_timings"])
    if counts["service_queue"] < 1:
        raise ConfigError("setting service_queue must be 1 or more, not 0")
    notify = parse_notify_urls(raw["notify"])
    report_base_url = check_url("report_base_url", raw["report_base_url"], ("http", "https")) \
        if raw["report_base_url"] else ""
    service_targets = parse_service_targets(raw["service_targets"])
    if raw["metrics_file"] and not raw["metrics_file"].endswith(".prom"):
        raise ConfigError("setting metrics_file must end in .prom (the textfile collector reads "
                          f"only those), not {raw['metrics_file']!r}")
    partial = parse_flag("partial", userdata.get("partial"), False)
    if partial and shard:
        raise ConfigError("setting partial and shard cannot combine: a run is either shard K/N "
                          "or a part of a behavex run")
    load_scale = parse_scale("load_scale",
                             str(userdata.get("load_scale", SCALES["load_scale"])).strip())
    if raw["load_python"] and not Path(raw["load_python"]).is_file():
        raise ConfigError(f"setting load_python names no file: {raw['load_python']!r}")
    return {"shard": shard, "notify": notify, "report_base_url": report_base_url,
            "service_targets": service_targets, "partial": partial, "load_scale": load_scale}


def _target_kind(raw: Mapping[str, str]) -> tuple[TargetKind, tuple[str, ...], str]:
    """The kind of target, and the stand-in's faults and variant (checked when local)."""
    if raw["target"] not in set(TargetKind):
        raise ConfigError(f"setting target must be one of {', '.join(TargetKind)}, "
                          f"not {raw['target']!r}")
    target = TargetKind(raw["target"])
    faults = tuple(f.strip() for f in raw["standin_fault"].split(",") if f.strip())
    variant = raw["standin_variant"]
    for name, given in (("standin_fault", faults), ("standin_variant", variant)):
        if given and target != TargetKind.LOCAL:
            raise ConfigError(f"setting {name} only applies to target=local")
    if target == TargetKind.LOCAL:
        check_standin(variant, faults)
    return target, faults, variant


def _deployed_urls(target: TargetKind, raw: Mapping[str, str], environ: Mapping[str, str],
                   credentials: bool) -> dict[str, str]:
    """A deployed target's backend, auth and WebSocket URLs, checked; safe to send credentials
    to (TLS, or loopback; no proxy on plain text)."""
    # Production is named explicitly, never taken from the STAGING_* variables.
    env = environ if target == TargetKind.STAGING else {}
    base = raw["base_url"] or env.get("STAGING_BASE_URL", "")
    if not base:
        raise ConfigError(f"target={target} needs the backend URL: "
                          + ("set STAGING_BASE_URL or -D base_url=" if target == TargetKind.STAGING
                             else "set -D base_url="))
    base = check_url("base_url", base, ("http", "https"))
    auth = check_url("auth_url", raw["auth_url"] or env.get("STAGING_AUTH_URL", "") or base,
                     ("http", "https"))
    default_ws = "ws" + base[4:] + "/ws"
    ws = check_url("ws_url", raw["ws_url"] or env.get("STAGING_WEBSOCKET_URL", "")
                   or default_ws, ("ws", "wss"))
    if not credentials:
        raise ConfigError(f"target={target} needs credentials: set E2E_OAUTH_SIMULATION_KEY "
                          "or STAGING_TEST_JWT_TOKEN")
    urls = {"base_url": base, "auth_url": auth, "ws_url": ws}
    check_proxies(urls, environ)
    for url in urls.values():
        parts = urlsplit(url)
        if parts.scheme in ("http", "ws") and not is_loopback(parts.hostname or ""):
            raise ConfigError(f"refusing to send credentials unencrypted to {redact_url(url)}: use "
                              "https:// and wss://, or a loopback address")
    return urls


def load_settings(userdata: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raises ConfigError with one sentence naming the setting."""
    environ = os.environ if environ is None else environ
    unknown = sorted(set(userdata) - KNOWN)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(KNOWN))}")
    raw = {**TEXT, **{k: str(v).strip() for k, v in userdata.items() if k in TEXT}}
    durations: dict[str, Any] = {name: parse_duration(name, str(userdata.get(name, default)))
                 for name, default in DURATIONS.items()}
    counts = {name: parse_count(name, str(userdata.get(name, default)).strip())
              for name, default in COUNTS.items()}
    outputs = _outputs(raw, counts, userdata)
    target, faults, variant = _target_kind(raw)
    bypass_key, token, signing_key = read_credentials(environ, target)
    insecure_tls = parse_flag("insecure_tls", userdata.get("insecure_tls"), False)
    # Scenarios that write data write only as the gate's own test users: they run on the
    # stand-in and on staging, and never against production.
    allow_destructive = parse_flag("allow_destructive", userdata.get("allow_destructive"),
                                   target != TargetKind.PRODUCTION)
    if target == TargetKind.PRODUCTION and allow_destructive:
        raise ConfigError("scenarios that write data never run against production: "
                          "remove allow_destructive=true")
    urls: dict[str, Any] = {"base_url": "", "auth_url": "", "ws_url": ""} if target == TargetKind.LOCAL \
        else _deployed_urls(target, raw, environ, bool(bypass_key or token))
    if raw["database_url"]:
        check_database_url(raw["database_url"])
    return Settings(target=target, standin_faults=faults, standin_variant=variant,
                    report_dir=raw["report_dir"] or "reports",
                    database_url=raw["database_url"], expected_revision=raw["expected_revision"],
                    expected_version=raw["expected_version"],
                    history=raw["history"] or str(Path(raw["report_dir"] or "reports")
                                                  / "history.sqlite"),
                    insecure_tls=insecure_tls, allow_destructive=allow_destructive,
                    keep_runs=counts["keep_runs"], at_risk_exit=counts["at_risk_exit"],
                    shard_timings=raw["shard_timings"], load_workers=counts["load_workers"],
                    load_python=raw["load_python"], bypass_key=bypass_key, token=token,
                    signing_key=signing_key, **urls, **durations,
                    metrics_file=raw["metrics_file"], service_queue=counts["service_queue"],
                    # On staging, workers start while it keeps scenarios waiting; one process
                    # on the embedded stand-in (it answers at once) and on production (the
                    # least load on real users' platform), unless asked.
                    workers=parse_workers(raw["workers"] or (
                        "auto" if target == TargetKind.STAGING else "1"), os.cpu_count()),
                    workers_after=parse_duration("workers_after", raw["workers_after"], zero=True),
                    catalog_url=raw["catalog_url"],
                    **outputs)
