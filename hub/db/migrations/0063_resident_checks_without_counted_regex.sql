-- The same rules, cheaper: PostgreSQL's regex engine runs a counted repetition such as [0-9a-f]{64} as a
-- chain of states, about 4.5 µs a digest, more than the rest of a digest row's insert. A length test and a
-- search for any character outside the set say the same thing in a tenth of the time.
ALTER TABLE my_number_hashes DROP CONSTRAINT my_number_hashes_hmac_check,
    ADD CONSTRAINT my_number_hashes_hmac_check CHECK (length(hmac) = 64 AND hmac !~ '[^0-9a-f]');
ALTER TABLE residents DROP CONSTRAINT residents_voucher_no_check,
    ADD CONSTRAINT residents_voucher_no_check CHECK (length(voucher_no) = 10 AND voucher_no !~ '[^0-9]');
