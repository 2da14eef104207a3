"""The mamori exception tree.

    MamoriError                 base of every error mamori raises on purpose
    ├── ConfigError             settings that cannot be used (bad URL, unwritable data dir)
    ├── ValidationError         user content or input that does not validate
    ├── NotFoundError           a requested object does not exist
    ├── ConflictError           the object exists already (e.g. user name taken)
    └── AuthError               missing, wrong or insufficient credentials

Bugs are not MamoriErrors: they raise whatever Python raises.
"""


class MamoriError(Exception):
    """Base of every error mamori raises on purpose."""


class ConfigError(MamoriError):
    """Settings that cannot be used."""


class ValidationError(MamoriError):
    """User content or input that does not validate."""


class NotFoundError(MamoriError):
    """A requested object does not exist."""


class ConflictError(MamoriError):
    """The object exists already."""


class AuthError(MamoriError):
    """Missing, wrong or insufficient credentials."""
