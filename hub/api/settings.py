"""What the API needs to run, built once by `vrs-hub serve` (or a test) from the hub configuration."""

from __future__ import annotations

from pathlib import Path

import msgspec


class ApiSettings(msgspec.Struct, frozen=True):
    """Settings of one API process."""

    database_url: str
    secret: bytes  # the hub secret: My Number HMACs, and (through a derived key) CSRF tokens
    db_role: str | None = "vrs_api"  # SET ROLE after connecting; None when the URL already logs in as it
    secure_cookies: bool = False  # True when served over TLS: cookies get the Secure flag
    session_idle_minutes: int = 60
    pool_min_size: int = 2
    pool_max_size: int = 10
    export_connections: int = 1  # connections one ledger download reads over (hub.config.HubConfig)
    max_upload_bytes: int = 1024 * 1024 * 1024
    certificate_issuer: str | None = None  # `iss` of issued vaccination certificates
    certificate_key_dir: Path | None = None  # their ES256 issuer keys (hub.certificates.issuer_keys)
    hub_ack_jwk: dict[str, str] | None = None  # the ack-signing public key stations verify (public data)
