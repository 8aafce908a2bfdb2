-- Hourly counts of the current state, kept incrementally by every writer of vaccinations (a full recount
-- must always give the same rows: `vrs-hub rebuild-aggregates` and the tests check it). The dashboard
-- reader sees them only through the agg_* views.
CREATE TABLE hourly_aggregates (
    bucket            timestamptz NOT NULL,
    prefecture_code   text NOT NULL,
    municipality_code text NOT NULL,
    venue_id          text NOT NULL,
    maker             text NOT NULL,
    dose              smallint NOT NULL,
    status            text NOT NULL,
    count             bigint NOT NULL,
    PRIMARY KEY (bucket, municipality_code, venue_id, maker, dose, status)
);

CREATE VIEW agg_hourly AS
    SELECT bucket, prefecture_code, municipality_code, venue_id, maker, dose, status, count
    FROM hourly_aggregates WHERE count <> 0;

CREATE VIEW agg_daily AS
    SELECT (bucket AT TIME ZONE 'Asia/Tokyo')::date AS day, prefecture_code, municipality_code,
           maker, dose, status, sum(count)::bigint AS count
    FROM hourly_aggregates WHERE count <> 0
    GROUP BY 1, 2, 3, 4, 5, 6;

CREATE VIEW agg_municipalities AS
    SELECT code AS municipality_code, prefecture_code, prefecture, name, name_kana, is_ward
    FROM municipalities;
