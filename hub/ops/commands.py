"""The shell of `vrs-hub backup`, `vrs-hub restore` and `vrs-hub keys backup-identity`: secrets from the
configuration, a terminal prompt or key files, and what the operator is told."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.config import HubConfig
from hub.errors import BackupError
from hub.ops.backup import KeyPaths, Manifest, backup_to_file, restore, write_backup
from hub.ops.sealed import SealedReader, SealedWriter

MIN_PASSPHRASE = 12


def key_paths(config: HubConfig) -> KeyPaths:
    return KeyPaths(hub_key_file=config.require("hub_key_file"), secret_file=config.require("secret_file"),
                    certificate_key_dir=config.certificate_key_dir)


def _passphrase(config: HubConfig, *, confirm: bool) -> str:
    if config.backup_passphrase:
        return config.backup_passphrase
    if not sys.stdin.isatty():
        raise BackupError("no passphrase: set VRS_BACKUP_PASSPHRASE, run on a terminal to be asked, or use "
                          "--recipient/--identity")
    first = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise BackupError("the two passphrases differ")
    return first


def load_recipient(path: Path) -> X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise BackupError(f"{path} is not a PEM public key") from None
    if not isinstance(key, X25519PublicKey):
        raise BackupError(f"{path} is not an X25519 public key (make one with `vrs-hub keys backup-identity`)")
    return key


def load_identity(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise BackupError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise BackupError(f"{path} is not an X25519 identity (make one with `vrs-hub keys backup-identity`)")
    return key


def backup_command(config: HubConfig, out: Path, *, recipient: Path | None, allow_broken_audit: bool,
                   echo: TextIO = sys.stdout) -> int:
    keys = key_paths(config)
    url = str(config.require("database_url"))
    public = load_recipient(recipient) if recipient is not None else None
    passphrase = None if public is not None else _passphrase(config, confirm=True)
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the backup passphrase must have at least {MIN_PASSPHRASE} characters")

    def write(f: BinaryIO) -> Manifest:
        sink = (SealedWriter.to_recipient(f, public) if public is not None
                else SealedWriter.with_passphrase(f, passphrase or ""))
        manifest = write_backup(url, keys, sink, allow_broken_audit=allow_broken_audit)
        sink.close()
        return manifest

    manifest = backup_to_file(out, write)
    size = out.stat().st_size
    print(f"backed up database {manifest.database} ({manifest.audit_rows} audit rows) and {len(manifest.files) - 1}"
          f" key file(s) to {out} ({size} bytes)", file=echo)
    if manifest.audit_breaks:
        print(f"WARNING: the audit log does not verify ({len(manifest.audit_breaks)} problem(s)); this backup will "
              "not restore", file=echo)
    return 0


def restore_command(config: HubConfig, path: Path, *, identity: Path | None, echo: TextIO = sys.stdout) -> int:
    keys = key_paths(config)
    url = str(config.require("database_url"))
    secret_key = load_identity(identity) if identity is not None else None
    try:
        f = path.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        if secret_key is not None:
            reader = SealedReader.open(f, identity=secret_key)
        else:
            reader = SealedReader.open(f, passphrase=_passphrase(config, confirm=False))
        report = restore(reader, url, keys)
    print(f"restored database {report.manifest.database} as backed up at {report.manifest.created_at:%Y-%m-%d %H:%M}"
          f" UTC: audit log intact ({report.audit_rows} rows verified)", file=echo)
    for p in report.files_written:
        print(f"wrote {p}", file=echo)
    for p in report.files_kept:
        print(f"kept {p} (identical)", file=echo)
    return 0


def new_identity(path: Path, echo: TextIO = sys.stdout) -> int:
    """Write an X25519 identity (0600) and its public half next to it (.pub); backups go to the public half."""
    key = X25519PrivateKey.generate()
    public = path.with_name(path.name + ".pub")
    for p in (path, public):
        if p.exists():
            raise BackupError(f"{p} exists; choose another name")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    print(f"identity {path} (keep it off the hub, e.g. offline); recipient {public} (for `vrs-hub backup "
          f"--recipient`)", file=echo)
    return 0
