"""hub.files._resident_block (resident_block.c): the fast path of hub.files.resident_copy."""

from collections.abc import Callable, Sequence

def configure(
    nfkc_cjk: Sequence[int],
    nfkc_halfwidth: Sequence[int],
    voiced: Sequence[int],
    semi_voiced: Sequence[int],
    fold: Sequence[int],
    eras: Sequence[tuple[str, int, int, int]],
    cp932_bytes: Sequence[int],
    cp932_pairs: bytes,
    /,
) -> None: ...
def utf8(block: bytes, cp932: bool, /) -> bytes | None: ...
def sha256_engines() -> tuple[str, ...]: ...
def use_sha256(name: str, /) -> None: ...

class Reader:
    def __init__(
        self,
        *,
        municipality_code: str,
        earliest: int,
        today: int,
        inner_pad: bytes,
        outer_pad: bytes,
        stage: bool,
        read_date: Callable[[str], int | None],
        read_kana: Callable[[str], tuple[str, str] | None],
        read_movement: Callable[[str, str, int], tuple[str, int] | None],
    ) -> None: ...
    def read(
        self, block: bytes, cp932: bool, first_line: int, width: int, order: tuple[int, ...], /
    ) -> tuple[bytes, bytes, list[int | str], list[int]] | None: ...
