"""Resident and record CSV files for the API tests."""

from __future__ import annotations

RESIDENT_HEADER = "自治体コード,宛名番号,接種券番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,異動区分,異動日"
RECORD_HEADER = "自治体コード,接種券番号,接種回数,接種状況,接種日,接種会場,ワクチンメーカー,ロット番号,医師名"


def resident_line(code: str, atena: str, voucher: str, *, my_number: str = "", name: str = "山田 太郎",
                  kana: str = "ヤマダ タロウ", birth: str = "19800401", sex: str = "1", address: str = "千代田1-1",
                  movement: str = "", moved: str = "") -> str:
    return ",".join([code, atena, voucher, my_number, name, kana, birth, sex, address, movement, moved])


def resident_csv(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([RESIDENT_HEADER, *lines]) + "\r\n").encode(encoding)


def record_csv(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([RECORD_HEADER, *lines]) + "\r\n").encode(encoding)
