"""The packaged municipality list: lookups, wards, and the shared data file it copies."""

from __future__ import annotations

from pathlib import Path

from protocol.municipalities import Municipality, all_municipalities, is_municipality, lookup

SHARED_CSV = Path("/work/shared/data/municipalities.csv")


def test_lookup_returns_names_and_kana() -> None:
    chiyoda = lookup("131016")
    assert chiyoda == Municipality(
        code="131016",
        prefecture_code="13",
        prefecture="東京都",
        name="千代田区",
        name_kana="ちよだく",
        designated_city_code=None,
    )
    assert not chiyoda.is_ward  # Tokyo's special wards are municipalities


def test_designated_city_is_a_municipality_and_its_wards_are_not() -> None:
    osaka = lookup("271004")
    assert osaka is not None and osaka.name == "大阪市" and not osaka.is_ward
    wards = [m for m in all_municipalities() if m.designated_city_code == "271004"]
    assert len(wards) == 24
    assert all(m.is_ward and not is_municipality(m.code) for m in wards)


def test_unknown_code_is_not_found() -> None:
    assert lookup("999999") is None
    assert lookup("") is None
    assert not is_municipality("999999")


def test_list_has_every_municipality_once_in_file_order() -> None:
    rows = all_municipalities()
    codes = [m.code for m in rows]
    assert len(codes) == len(set(codes))
    assert codes[0] == "011002"
    assert sum(not m.is_ward for m in rows) == 1741
    assert all(m.code[:2] == m.prefecture_code for m in rows)
    assert {m.prefecture_code for m in rows} == {f"{n:02d}" for n in range(1, 48)}


def test_packaged_copy_matches_the_shared_list() -> None:
    if not SHARED_CSV.exists():  # a clone without the shared folder has only the packaged copy
        return
    lines = SHARED_CSV.read_text(encoding="utf-8").splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == [m.code for m in all_municipalities()]
