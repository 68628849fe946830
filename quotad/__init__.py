"""quotad: GPU-grant accounting, telemetry and directives for a national foundation-model programme.

The package is a ledger with collectors in front of it and policies, notifications, metrics and reports
behind it. Data flows one way (collectors -> ledger -> policies -> directives -> outputs); see
``ARCHITECTURE.md`` at the repository root and the README.
"""

from quotad.errors import ConfigError, InputError, NotFoundError, QuotadError, SchemaError

__version__ = "0.1.0"

__all__ = ["ConfigError", "InputError", "NotFoundError", "QuotadError", "SchemaError", "__version__"]
