-- The same rules as 0003 and 0063, cheaper where a first import's COPY tests them on every row: length()
-- counts characters, walking the text; octet_length() reads its size. Where the other test admits only ASCII
-- digits the two are the same number, and a 宛名番号 of 1-32 bytes has 1-32 characters; a longer one is still
-- counted. (My Number digests get a check of their own in 0069.)
ALTER TABLE residents
    DROP CONSTRAINT residents_atena_no_check,
    ADD CONSTRAINT residents_atena_no_check
        CHECK (octet_length(atena_no) BETWEEN 1 AND 32 OR length(atena_no) BETWEEN 1 AND 32),
    DROP CONSTRAINT residents_voucher_no_check,
    ADD CONSTRAINT residents_voucher_no_check CHECK (octet_length(voucher_no) = 10 AND voucher_no !~ '[^0-9]');
