-- Resident search and the residents page list in kana order by the names' bytes (COLLATE "C", whatever
-- the database's collation), so a kana prefix is one range of this index and a page of hits is read from it
-- in order. It replaces the text_pattern_ops index, which gave the prefix's start but no end under row-level
-- security (LIKE is not leakproof, so the planner may not turn it into index bounds there).
CREATE INDEX residents_kana_c ON residents (municipality_code, (name_kana_norm COLLATE "C"), atena_no);
DROP INDEX residents_kana_prefix;
