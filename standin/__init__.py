"""The stand-in platform: a small real implementation of the platform contract, with faults."""

from .errors import DatabaseConfigError, StandinError, StartError, UnknownFaultError
from .faults import FAULTS, Fault
from .server import Standin, StandinURLs, serve, start_standin

__all__ = ["FAULTS", "DatabaseConfigError", "Fault", "Standin", "StandinError", "StandinURLs",
           "StartError", "UnknownFaultError", "serve", "start_standin"]
