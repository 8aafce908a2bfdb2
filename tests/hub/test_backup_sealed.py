"""The backup container (hub.ops.sealed) without a database: round trips of any size, and every kind of damage
(wrong secret, flipped bit, dropped, swapped or truncated chunk) refused with BackupError, never garbage."""

from __future__ import annotations

import io
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import BackupError
from hub.ops import sealed
from hub.ops.sealed import CHUNK, SealedReader, SealedWriter

FAST = 10  # scrypt N = 2**10: the format is under test here, not the cost parameter


def seal(data: bytes, passphrase: str = "a good long passphrase") -> bytes:
    out = io.BytesIO()
    w = SealedWriter.with_passphrase(out, passphrase, log2n=FAST)
    for i in range(0, len(data), 70_000):
        w.write(data[i:i + 70_000])
    w.close()
    return out.getvalue()


def unseal(blob: bytes, passphrase: str = "a good long passphrase") -> bytes:
    reader = SealedReader.open(io.BytesIO(blob), passphrase=passphrase)
    out = reader.read()
    assert reader.at_end()
    return out


def chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    """(header, sealed chunks with their length prefixes)."""
    _, header, check = sealed.read_header(io.BytesIO(blob))
    pos, parts = len(header) + len(check), []
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos:pos + 4])
        parts.append(blob[pos:pos + 4 + n])
        pos += 4 + n
    return blob[:len(header) + len(check)], parts


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 12345])
def test_round_trip_of_any_size(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert unseal(seal(data)) == data


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=700))
@settings(max_examples=30)
def test_small_reads_give_back_the_same_bytes(data: bytes, step: int) -> None:
    reader = SealedReader.open(io.BytesIO(seal(data)), passphrase="a good long passphrase")
    got = bytearray()
    while part := reader.read(step):
        got += part
    assert bytes(got) == data


def test_wrong_passphrase_is_named_as_such() -> None:
    with pytest.raises(BackupError, match="wrong passphrase"):
        unseal(seal(b"records"), "another passphrase")


def test_reordered_dropped_and_truncated_chunks_are_refused() -> None:
    head, parts = chunks(seal(bytes(3 * CHUNK)))
    assert len(parts) == 3
    for damaged, what in ((head + parts[1] + parts[0] + parts[2], "altered"),
                          (head + parts[0] + parts[2], "altered"),
                          (head + parts[0] + parts[1], "altered"),
                          (head + parts[0] + parts[1] + parts[2][:-1], "truncated"),
                          (head, "truncated")):
        with pytest.raises(BackupError, match=what):
            unseal(damaged)


@given(st.data())
@settings(max_examples=60)
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    blob = bytearray(seal(b"vaccination records " * 50))
    i = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[i] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    with pytest.raises(BackupError):
        unseal(bytes(blob))


def test_recipient_mode_needs_the_matching_identity() -> None:
    identity, stranger = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    out = io.BytesIO()
    w = SealedWriter.to_recipient(out, identity.public_key())
    w.write(b"hub backup")
    w.close()
    blob = out.getvalue()
    assert SealedReader.open(io.BytesIO(blob), identity=identity).read() == b"hub backup"
    with pytest.raises(BackupError, match="another public key"):
        SealedReader.open(io.BytesIO(blob), identity=stranger)
    with pytest.raises(BackupError, match="public key"):
        SealedReader.open(io.BytesIO(blob), passphrase="a good long passphrase")


def test_headers_that_are_not_ours_or_ask_too_much_are_refused() -> None:
    with pytest.raises(BackupError, match="not a hub backup"):
        unseal(b"PGDMP\x01\x0e\x00" + bytes(100))
    blob = bytearray(seal(b"x"))
    blob[8] = 9
    with pytest.raises(BackupError, match="version 9"):
        unseal(bytes(blob))
    blob = bytearray(seal(b"x"))
    blob[10 + sealed.SALT_BYTES] = 40  # scrypt N = 2**40 would exhaust memory
    with pytest.raises(BackupError, match="damaged"):
        unseal(bytes(blob))
