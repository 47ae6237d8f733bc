"""The service's allow-list of targets: the embedded stand-in (`local`, `local+FAULT[+FAULT]`)
and the named targets configured with `-D service_targets=` (staging: the STAGING_*
configuration). A request names a target; it never gives a URL."""

from __future__ import annotations

from collections.abc import Mapping

from behave.configuration import Configuration

from ..config.settings import Settings, load_settings
from ..errors import ConfigError, ServiceRequestError
from ..vocabulary import TargetKind

LOCAL = TargetKind.LOCAL
MAX_NAME = 200


def target_defines(name: str) -> list[str]:
    """The `-D` arguments that point a behave run at this allow-listed target."""
    target, *faults = name.split("+")
    defines = ["-D", f"target={target}", "-D", f"standin_fault={','.join(faults)}"]
    return defines if target == LOCAL else [*defines, "-D", "standin_variant="]


def resolve_target(name: object, settings: Settings) -> str:
    """The allow-listed target this name means (faults in a canonical order), or ServiceRequestError."""
    from standin import FAULTS, StandinError, check_combination  # its public API only

    if not isinstance(name, str) or not name.strip():
        raise ServiceRequestError(400, "name the target: local, local+FAULT or a configured target "
                                "such as staging")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ServiceRequestError(400, f"the target name is longer than {MAX_NAME} characters")
    if name in settings.service_targets:
        return name
    target, *faults = name.split("+")
    if target != LOCAL:
        allowed = ", ".join([LOCAL, f"{LOCAL}+FAULT", *settings.service_targets])
        raise ServiceRequestError(404, f"target {name!r} is not on this service's allow-list "
                                f"({allowed})")
    unknown = [fault for fault in faults if fault not in FAULTS]
    if unknown:
        raise ServiceRequestError(404, f"target {name!r} names an unknown stand-in fault "
                                f"{unknown[0]!r}; known faults: {', '.join(FAULTS)}")
    faults = sorted(set(faults))
    try:
        check_combination(settings.standin_variant or "default", tuple(faults))
    except StandinError as exc:
        raise ServiceRequestError(400, f"target {name!r} cannot be played: {exc}") from None
    return "+".join([LOCAL, *faults])


def check_service_targets(define_args: list[str], environ: Mapping[str, str]) -> None:
    """Each configured named target can be run with the service's settings, or ConfigError
    saying why (checked when the service starts, not at its first request)."""
    userdata = dict(Configuration(command_args=list(define_args), load_config=True).userdata)
    for name in load_settings(userdata, environ).service_targets:
        try:
            load_settings({**userdata, "target": name, "standin_fault": "",
                           "standin_variant": ""}, environ)
        except ConfigError as exc:
            raise ConfigError(f"service target {name}: {exc}") from None
