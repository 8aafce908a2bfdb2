"""A resident always names a municipality that exists, and a municipality named by residents never goes away:
checked per statement by triggers (migration 0062) instead of a per-row foreign key; voucher numbers keep
their exact form under the cheaper checks of migrations 0063 and 0067, and My Number digests are 32 bytes
(0069); a digest needs its resident (a statement trigger of migration 0064 instead of the foreign key).
Proven on the server."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from hub.db.connect import connect
from hub.db.migrate import migrate
from hub.db.scoped import Scope, scoped

CODE = "131016"  # 千代田区
UNKNOWN = "999991"
OTHER = "271004"  # 大阪市


def _insert(conn: psycopg.Connection[tuple[object, ...]], *codes: str) -> None:
    conn.execute(
        "INSERT INTO residents (municipality_code, atena_no, name)"
        " SELECT code, 'A' || n, 'person' FROM unnest(%s::text[]) WITH ORDINALITY AS t (code, n)",
        (list(codes),),
    )


def test_a_resident_of_an_unknown_municipality_is_refused_even_for_the_owner(hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        with pytest.raises(errors.ForeignKeyViolation, match=f"municipality code '{UNKNOWN}' is not in"):
            _insert(conn, UNKNOWN)
        # One unknown code among many good rows refuses the whole statement.
        with pytest.raises(errors.ForeignKeyViolation, match=UNKNOWN):
            _insert(conn, CODE, CODE, UNKNOWN, CODE)
        assert conn.execute("SELECT count(*) FROM residents").fetchone() == (0,)
        _insert(conn, CODE, CODE)
        assert conn.execute("SELECT count(*) FROM residents").fetchone() == (2,)


def test_a_resident_cannot_be_moved_to_an_unknown_municipality(hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        _insert(conn, CODE)
        with pytest.raises(errors.ForeignKeyViolation, match=UNKNOWN):
            conn.execute("UPDATE residents SET municipality_code = %s", (UNKNOWN,))
        conn.execute("UPDATE residents SET municipality_code = '271004'")
        assert conn.execute("SELECT municipality_code FROM residents").fetchall() == [("271004",)]


def test_a_municipality_can_be_neither_deleted_nor_renumbered(hub_db: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        _insert(conn, CODE)
        with pytest.raises(errors.RestrictViolation, match="codes are permanent"):
            conn.execute("DELETE FROM municipalities WHERE code = %s", (CODE,))
        with pytest.raises(errors.RestrictViolation, match="codes are permanent"):
            conn.execute("UPDATE municipalities SET code = %s WHERE code = %s", (UNKNOWN, CODE))
        with pytest.raises(errors.RestrictViolation, match="codes are permanent"):
            conn.execute("TRUNCATE municipalities CASCADE")
        # Refreshing a municipality's name (what the packaged list does) is still allowed.
        conn.execute("UPDATE municipalities SET name = name WHERE code = %s", (CODE,))
        assert conn.execute("SELECT count(*) FROM residents r JOIN municipalities m ON m.code = r.municipality_code"
                            ).fetchone() == (1,)


@pytest.mark.parametrize("digest", [b"", bytes(31), bytes(33), bytes(64), "0123456789abcdef" * 4])
def test_a_my_number_digest_is_exactly_32_bytes(hub_db: str, digest: bytes | str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        _insert(conn, CODE)
        with pytest.raises(errors.CheckViolation, match="my_number_hashes_hmac_check"):
            # A str goes in as text, whose bytes are the 64 characters of the old hex form.
            conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s)", (CODE, digest))
        conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s)", (CODE, bytes(range(32))))
        assert conn.execute("SELECT hmac FROM my_number_hashes").fetchall() == [(bytes(range(32)),)]


def test_digests_stored_as_hex_before_migration_0069_keep_their_bytes(hub_db: str) -> None:
    digest = bytes(range(32))
    with psycopg.connect(hub_db, autocommit=True) as conn:
        _insert(conn, CODE)
        # The columns as migrations 0060 and 0063 left them, holding a digest in hex.
        conn.execute("ALTER TABLE my_number_hashes DROP CONSTRAINT my_number_hashes_hmac_check,"
                     " ALTER COLUMN hmac TYPE text COLLATE \"C\" USING encode(hmac, 'hex'),"
                     " ADD CONSTRAINT my_number_hashes_hmac_check CHECK (length(hmac) = 64"
                     " AND hmac !~ '[^0-9a-f]')")
        conn.execute("ALTER TABLE transfer_inquiries DROP CONSTRAINT transfer_inquiries_my_number_hmac_check,"
                     " ALTER COLUMN my_number_hmac TYPE text USING encode(my_number_hmac, 'hex'),"
                     " ADD CONSTRAINT transfer_inquiries_my_number_hmac_check"
                     " CHECK (my_number_hmac ~ '^[0-9a-f]{64}$')")
        conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s)", (CODE, digest.hex()))
        conn.execute("DELETE FROM schema_migrations WHERE version = 69")
        assert migrate(conn) == ["0069_my_number_digest_bytes.sql"]
        assert conn.execute("SELECT atena_no, hmac FROM my_number_hashes").fetchall() == [("A1", digest)]
        assert conn.execute("SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid ="
                            " 'transfer_inquiries'::regclass AND attname = 'my_number_hmac'").fetchone() == ("bytea",)


@pytest.mark.parametrize("voucher", ["123456789", "12345678901", "12345678x0", "１２３４５６７８９０", "123456789\n",
                                     "1234567８", "12345678é"])
def test_a_resident_voucher_number_is_exactly_ten_ascii_digits(hub_db: str, voucher: str) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        with pytest.raises(errors.CheckViolation, match="residents_voucher_no_check"):
            conn.execute("INSERT INTO residents (municipality_code, atena_no, voucher_no, name) VALUES (%s, 'A1', %s,"
                         " 'person')", (CODE, voucher))
        conn.execute("INSERT INTO residents (municipality_code, atena_no, voucher_no, name) VALUES (%s, 'A1', %s,"
                     " 'person'), (%s, 'A2', NULL, 'person')", (CODE, "0123456789", CODE))


@pytest.mark.parametrize(("atena_no", "ok"), [
    ("", False), ("1", True), ("A" * 32, True), ("A" * 33, False),
    # Counted in characters, not bytes: 32 kana are 96 bytes.
    ("あ" * 32, True), ("あ" * 33, False), ("a" * 31 + "あ", True), ("a" * 32 + "あ", False),
])
def test_a_resident_addressee_number_has_1_to_32_characters(hub_db: str, atena_no: str, ok: bool) -> None:
    with psycopg.connect(hub_db, autocommit=True) as conn:
        insert = "INSERT INTO residents (municipality_code, atena_no, name) VALUES (%s, %s, 'person')"
        if ok:
            conn.execute(insert, (CODE, atena_no))
            assert conn.execute("SELECT atena_no FROM residents").fetchall() == [(atena_no,)]
        else:
            with pytest.raises(errors.CheckViolation, match="residents_atena_no_check"):
                conn.execute(insert, (CODE, atena_no))


def test_a_digest_needs_its_resident_and_follows_it(hub_db: str) -> None:
    digest = bytes(range(32))
    with psycopg.connect(hub_db, autocommit=True) as conn:
        conn.execute("INSERT INTO residents (municipality_code, atena_no, name) VALUES (%s, 'A1', 'a'),"
                     " (%s, 'A2', 'b'), (%s, 'A1', 'c')", (CODE, CODE, OTHER))
        with pytest.raises(errors.ForeignKeyViolation, match="no resident 'A3' of municipality"):
            conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s), (%s, 'A3', %s)",
                         (CODE, digest, CODE, digest))
        # One statement, two municipalities: 'A2' is a resident of the first only.
        with pytest.raises(errors.ForeignKeyViolation, match=f"no resident 'A2' of municipality {OTHER}"):
            conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s), (%s, 'A2', %s)",
                         (CODE, digest, OTHER, digest))
        conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s), (%s, 'A2', %s)",
                     (CODE, digest, CODE, digest))
        with pytest.raises(errors.ForeignKeyViolation, match="no resident 'A9'"):
            conn.execute("UPDATE my_number_hashes SET atena_no = 'A9' WHERE atena_no = 'A2'")
        with pytest.raises(errors.ForeignKeyViolation, match="has a My Number digest"):
            conn.execute("UPDATE residents SET atena_no = 'A9' WHERE municipality_code = %s AND atena_no = 'A2'",
                         (CODE,))
        conn.execute("DELETE FROM residents WHERE municipality_code = %s AND atena_no = 'A2'", (CODE,))
        assert conn.execute("SELECT municipality_code, atena_no FROM my_number_hashes").fetchall() == [(CODE, "A1")]
    with connect(hub_db, "vrs_api") as conn, scoped(conn, Scope.municipality(OTHER)):
        # The API role's check sees its own municipality's residents, as its policy allows.
        conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A1', %s)", (OTHER, digest))
        with pytest.raises(errors.ForeignKeyViolation), conn.transaction():
            conn.execute("INSERT INTO my_number_hashes VALUES (%s, 'A7', %s)", (OTHER, digest))
