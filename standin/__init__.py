"""The stand-in platform: a small real implementation of the platform contract, with named
variants (shapes the platform has had) and faults (clauses switched off)."""

from .errors import (
    DatabaseConfigError,
    IncompatibleFaultError,
    StandinError,
    StartError,
    UnknownFaultError,
    UnknownVariantError,
)
from .faults import FAULTS, Fault
from .server import Standin, StandinURLs, serve, start_standin
from .variants import DEFAULT_VARIANT, VARIANTS, Variant, check_combination

__all__ = ["DEFAULT_VARIANT", "FAULTS", "VARIANTS", "DatabaseConfigError", "Fault",
           "IncompatibleFaultError", "Standin", "StandinError", "StandinURLs", "StartError",
           "UnknownFaultError", "UnknownVariantError", "Variant", "check_combination", "serve",
           "start_standin"]
