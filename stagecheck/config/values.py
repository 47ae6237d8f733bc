"""Reading and checking one setting's value: numbers, flags, URLs, proxies, the database URL,
the stand-in's faults and variant, webhooks."""

from __future__ import annotations

import ipaddress
import math
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ..client.redact import redact_url
from ..errors import ConfigError

SERVICE_TARGETS = ("staging", "production")  # named targets the service may add to local
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def parse_duration(name: str, raw: str, *, zero: bool = False) -> float:
    """Seconds, more than 0 (or 0 too, with `zero`: at once)."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"setting {name} must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        least = "0 or more" if zero else "a positive number of"
        raise ConfigError(f"setting {name} must be {least} seconds, not {raw!r}")
    return value


def parse_count(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"setting {name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"setting {name} must be 0 or more, not {raw!r}")
    return value


MAX_WORKERS = 32


def parse_workers(raw: str, cpus: int | None) -> int:
    """Scenarios run at once: a number from 1 to MAX_WORKERS, or `auto` (two per processor, at
    most 8: the workers mostly wait on the target)."""
    if raw == "auto":
        return max(1, min(8, 2 * (cpus or 1)))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"setting workers must be a whole number or auto, not {raw!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"setting workers must be from 1 to {MAX_WORKERS}, not {raw!r}")
    return value


def parse_scale(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"setting {name} must be a number, like 0.1, not {raw!r}") from None
    if not math.isfinite(value) or not 0 < value <= 100:
        raise ConfigError(f"setting {name} must be more than 0 and at most 100, not {raw!r}")
    return value


def parse_flag(name: str, raw: str | None, default: bool) -> bool:
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


def check_standin(variant: str, faults: tuple[str, ...]) -> None:
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


def parse_shard(raw: str, timings: str) -> tuple[int, int] | None:
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


def parse_notify_urls(raw: str) -> tuple[str, ...]:
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


def parse_service_targets(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if name not in SERVICE_TARGETS:
            raise ConfigError(f"setting service_targets names {name!r}; the service can add "
                              f"{' and '.join(SERVICE_TARGETS)} to the stand-in targets")
    return names
