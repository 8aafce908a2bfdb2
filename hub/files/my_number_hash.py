"""The hub's keyed hash of a My Number (hub.keys.my_number_hmac's digest, HMAC-SHA256 of the 12 digits),
made once per file for its many numbers."""

from __future__ import annotations

import hashlib
from typing import Final

_SHA256_BLOCK: Final = 64
_IPAD: Final = bytes(byte ^ 0x36 for byte in range(256))
_OPAD: Final = bytes(byte ^ 0x5C for byte in range(256))


class MyNumberHasher:
    """HMAC-SHA256 (RFC 2104) under one secret: call it with a number for its digest.

    The key's inner and outer SHA-256 states are made once and copied per number, a third of the per-call
    cost of hmac.digest, which makes them anew for every number. ``inner_pad`` and ``outer_pad`` are the
    padded key blocks, which hub.files.resident_copy's fast path hashes from in C.
    """

    __slots__ = ("_inner", "_outer", "inner_pad", "outer_pad")

    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha256(secret).digest() if len(secret) > _SHA256_BLOCK else secret
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self.inner_pad = key.translate(_IPAD)
        self.outer_pad = key.translate(_OPAD)
        self._inner = hashlib.sha256(self.inner_pad)
        self._outer = hashlib.sha256(self.outer_pad)

    def __call__(self, number: str) -> bytes:
        inner = self._inner.copy()
        inner.update(number.encode("ascii"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
