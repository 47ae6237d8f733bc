"""stagecheck: the release gate's support library (settings, recording clients, results)."""

from .config import Settings, load_settings
from .errors import ConfigError, TargetError, TargetTimeout, TargetUnreachable
from .exchanges import Exchange, ExchangeLog, Redactor

__all__ = ["ConfigError", "Exchange", "ExchangeLog", "Redactor", "Settings", "TargetError",
           "TargetTimeout", "TargetUnreachable", "load_settings"]
