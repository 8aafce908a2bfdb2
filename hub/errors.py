"""The hub's exception tree (drawn in the hub package docstring)."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """Configuration is missing or malformed; the message names the variable or TOML key."""


class KeyFileError(HubError):
    """A key or secret file is unreadable, malformed or readable by others."""


class MigrationError(HubError):
    """A migration file failed to apply; nothing of that file was kept."""


class ScopeError(HubError):
    """A database scope lacks what its kind needs (a municipality code, a venue id)."""


class NotFoundError(HubError):
    """A venue, device or municipality named in a command does not exist."""


class InputError(HubError):
    """A value given to a command is malformed (an id, a name, a code)."""


class ConflictError(HubError):
    """An id given to a command is already taken."""


class IngestError(HubError):
    """Base of what the ingest refuses."""


class BatchRefused(IngestError):
    """A whole batch is refused before anything is written (unknown device, bad signature, wrong topic)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class BrokerError(IngestError):
    """The broker refused the ingest (login, subscription) or broke the MQTT protocol; the ingest reconnects."""


class BackupError(HubError):
    """A backup cannot be written or restored: wrong passphrase, altered file, broken audit chain, target not empty."""
