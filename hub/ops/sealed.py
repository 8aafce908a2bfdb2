"""The encrypted container of a hub backup: a small header, then AES-256-GCM chunks (streamed, any size).

Format, version 1 (all integers big-endian)::

    offset  size  field
    0       8     magic  b"VRSBACK\\0"
    8       1     version (1)
    9       1     kind: 1 = passphrase, 2 = X25519 recipient
    10      ...   kind 1: salt (16) | log2 of scrypt N (1) | scrypt r (1) | scrypt p (1)
                  kind 2: ephemeral X25519 public key (32) | recipient's X25519 public key (32)
    ...     16    key check: HMAC-SHA256(check key, every header byte before it), first 16 bytes
    then chunks until the end of the file:
            4     length L of the sealed chunk
            L     AES-256-GCM(data key, nonce, plaintext chunk, associated data = the whole header)
                  nonce = chunk number (11 bytes) | 0x01 on the last chunk, else 0x00

Key material: kind 1 derives 64 bytes with scrypt(passphrase, salt, N, r, p); kind 2 derives them with
HKDF-SHA256(X25519(ephemeral, recipient), salt = ephemeral public | recipient public, info
b"vrs-backup v1") as age does. The first 32 bytes are the data key, the last 32 the check key. The check
tells a wrong passphrase (or identity) apart from a damaged file; the chunk numbers and the last-chunk flag
make reordered, dropped or truncated chunks fail authentication (the STREAM construction).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hub.errors import BackupError

MAGIC: Final = b"VRSBACK\0"
VERSION: Final = 1
KIND_PASSPHRASE: Final = 1
KIND_RECIPIENT: Final = 2
CHUNK: Final = 1 << 20
SALT_BYTES: Final = 16
CHECK_BYTES: Final = 16
# scrypt N = 2**17, r = 8: 128 MiB and about half a second, once per backup or restore.
SCRYPT_LOG2N: Final = 17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
# A header asking for more than this would make a restore allocate gigabytes: refused as damaged.
MAX_SCRYPT_LOG2N: Final = 22
HKDF_INFO: Final = b"vrs-backup v1"
_TAG: Final = 16


def _split(material: bytes) -> tuple[bytes, bytes]:
    return material[:32], material[32:]


def _scrypt(passphrase: str, salt: bytes, log2n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=64, n=1 << log2n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _hkdf(shared: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=HKDF_INFO).derive(shared)


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check(check_key: bytes, header: bytes) -> bytes:
    return hmac.new(check_key, header, hashlib.sha256).digest()[:CHECK_BYTES]


def _nonce(counter: int, last: bool) -> bytes:
    if counter >= 1 << 88:
        raise BackupError("backup too large for one file")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """A write-only file object that seals what is written into `out`; `close()` writes the last chunk."""

    def __init__(self, out: BinaryIO, header: bytes, data_key: bytes) -> None:
        self._out = out
        self._header = header
        self._aead = AESGCM(data_key)
        self._buffer = bytearray()
        self._counter = 0
        self._closed = False
        out.write(header)

    @classmethod
    def with_passphrase(cls, out: BinaryIO, passphrase: str, *, log2n: int = SCRYPT_LOG2N) -> SealedWriter:
        if not passphrase:
            raise BackupError("the backup passphrase is empty")
        salt = os.urandom(SALT_BYTES)
        data_key, check_key = _split(_scrypt(passphrase, salt, log2n, SCRYPT_R, SCRYPT_P))
        head = MAGIC + bytes([VERSION, KIND_PASSPHRASE]) + salt + bytes([log2n, SCRYPT_R, SCRYPT_P])
        return cls(out, head + _check(check_key, head), data_key)

    @classmethod
    def to_recipient(cls, out: BinaryIO, recipient: X25519PublicKey) -> SealedWriter:
        ephemeral = X25519PrivateKey.generate()
        eph_pub, rec_pub = _raw(ephemeral.public_key()), _raw(recipient)
        data_key, check_key = _split(_hkdf(ephemeral.exchange(recipient), eph_pub + rec_pub))
        head = MAGIC + bytes([VERSION, KIND_RECIPIENT]) + eph_pub + rec_pub
        return cls(out, head + _check(check_key, head), data_key)

    def _seal(self, chunk: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._counter, last), chunk, self._header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed backup")
        self._buffer += data
        # Keep at least one byte back: the last chunk must be sealed as the last one at close().
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True


def read_header(src: BinaryIO) -> tuple[int, bytes, bytes]:
    """(kind, header without its check, check) of a sealed file; BackupError when it is not one."""
    head = src.read(10)
    if len(head) < 10 or head[:8] != MAGIC:
        raise BackupError("this is not a hub backup file (wrong magic bytes)")
    if head[8] != VERSION:
        raise BackupError(f"backup format version {head[8]} is not supported (this hub reads version {VERSION})")
    kind = head[9]
    size = {KIND_PASSPHRASE: SALT_BYTES + 3, KIND_RECIPIENT: 64}.get(kind)
    if size is None:
        raise BackupError(f"backup encryption kind {kind} is unknown")
    rest = src.read(size + CHECK_BYTES)
    if len(rest) != size + CHECK_BYTES:
        raise BackupError("the backup file is truncated (its header is incomplete)")
    return kind, head + rest[:size], rest[size:]


class SealedReader:
    """A read-only file object over the plaintext of a sealed file, authenticated chunk by chunk."""

    def __init__(self, src: BinaryIO, header: bytes, data_key: bytes) -> None:
        self._src = src
        self._header = header
        self._aead = AESGCM(data_key)
        self._counter = 0
        self._plain = b""
        self._offset = 0  # read position in _plain (slicing a 1 MiB chunk per small read would be quadratic)
        self._done = False
        self._pending = self._read_sealed()

    @classmethod
    def open(cls, src: BinaryIO, *, passphrase: str | None = None,
             identity: X25519PrivateKey | None = None) -> SealedReader:
        """Check the key against the header; BackupError says whether the secret or the file is wrong."""
        kind, header, check = read_header(src)
        if kind == KIND_PASSPHRASE:
            if passphrase is None:
                raise BackupError("this backup is encrypted with a passphrase (set VRS_BACKUP_PASSPHRASE)")
            salt, (log2n, r, p) = header[10:26], header[26:29]
            if not 10 <= log2n <= MAX_SCRYPT_LOG2N or not 1 <= r <= 32 or not 1 <= p <= 16:
                raise BackupError("the backup header is damaged (impossible key derivation parameters)")
            material = _scrypt(passphrase, salt, log2n, r, p)
            wrong = "wrong passphrase (or the backup's header was altered)"
        else:
            if identity is None:
                raise BackupError("this backup is encrypted to a public key; give the identity file (--identity)")
            eph_pub, rec_pub = header[10:42], header[42:74]
            if _raw(identity.public_key()) != rec_pub:
                raise BackupError("this backup was encrypted to another public key than the identity given")
            try:
                shared = identity.exchange(X25519PublicKey.from_public_bytes(eph_pub))
            except ValueError:
                raise BackupError("the backup header is damaged (bad ephemeral key)") from None
            material = _hkdf(shared, eph_pub + rec_pub)
            wrong = "the backup's header was altered"
        data_key, check_key = _split(material)
        if not hmac.compare_digest(_check(check_key, header), check):
            raise BackupError(wrong)
        return cls(src, header + check, data_key)

    def _read_sealed(self) -> bytes | None:
        size = self._src.read(4)
        if not size:
            return None
        if len(size) < 4:
            raise BackupError("the backup file is truncated (inside a chunk length)")
        (length,) = struct.unpack(">I", size)
        if not _TAG <= length <= CHUNK + _TAG:
            raise BackupError(f"the backup file is damaged (chunk {self._counter} claims {length} bytes)")
        sealed = self._src.read(length)
        if len(sealed) != length:
            raise BackupError("the backup file is truncated (inside a chunk)")
        return sealed

    def _next_chunk(self) -> None:
        sealed = self._pending
        if sealed is None:
            raise BackupError("the backup file is truncated (its last chunk is missing)")
        self._pending = self._read_sealed()
        last = self._pending is None
        try:
            self._plain = self._aead.decrypt(_nonce(self._counter, last), sealed, self._header)
            self._offset = 0
        except InvalidTag:
            raise BackupError(f"the backup file was altered or truncated (chunk {self._counter} does not "
                              "authenticate); do not use it") from None
        self._counter += 1
        self._done = last

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            left = len(self._plain) - self._offset
            if not left:
                if self._done:
                    break
                self._next_chunk()
                continue
            take = left if n < 0 else min(n - len(out), left)
            out += self._plain[self._offset:self._offset + take]
            self._offset += take
        return bytes(out)

    def at_end(self) -> bool:
        """True once every chunk, the last one included, has been authenticated and read."""
        return self._done and self._offset == len(self._plain)
