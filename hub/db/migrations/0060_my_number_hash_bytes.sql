-- Keyed My Number digests are only ever compared for equality, never shown in an order: with the "C"
-- collation every comparison in their index is a byte compare instead of the locale's strcoll, which made
-- inserting a large city's digests (random 64-character keys) several times slower than the rest of a
-- resident import.
ALTER TABLE my_number_hashes ALTER COLUMN hmac TYPE text COLLATE "C";
