"""National view (国): doses, makers and coverage by prefecture. Aggregates only."""

from dashboards.panels import Layout, bars, build, pie, stat, table, timeseries

layout = Layout()
panels = [
    timeseries(layout, "都道府県別 1日の接種回数 (doses per day by prefecture)", """
        SELECT $__time(day_start), prefecture AS metric, sum(count) AS doses
        FROM agg_doses_daily
        WHERE $__timeFilter(day_start) AND status = 'vaccinated'
        GROUP BY day_start, prefecture ORDER BY 1
    """, stacked=True),
    timeseries(layout, "累計接種回数 (cumulative doses)", """
        SELECT $__time(day_start), sum(sum(count)) OVER (ORDER BY day_start) AS cumulative_doses
        FROM agg_doses_daily
        WHERE status = 'vaccinated' AND day_start <= $__timeTo()
        GROUP BY day_start ORDER BY 1
    """),
    pie(layout, "ワクチンメーカー別 (share by maker)", """
        SELECT maker_label AS maker, sum(count) AS doses
        FROM agg_doses_daily
        WHERE $__timeFilter(day_start) AND status = 'vaccinated'
        GROUP BY maker_label ORDER BY 2 DESC
    """),
    stat(layout, "1回目 / 2回目 / 予診のみ (dose 1, dose 2, screened only)", """
        SELECT coalesce(sum(count) FILTER (WHERE status = 'vaccinated' AND dose = 1), 0) AS "1回目",
               coalesce(sum(count) FILTER (WHERE status = 'vaccinated' AND dose = 2), 0) AS "2回目",
               coalesce(sum(count) FILTER (WHERE status = 'screened_only'), 0) AS "予診のみ"
        FROM agg_doses_daily
        WHERE $__timeFilter(day_start)
    """),
    bars(layout, "都道府県別 接種率 2回目 (coverage by prefecture, dose 2)", """
        SELECT r.prefecture, coalesce(c.vaccinated, 0)::float8 / r.registered AS coverage
        FROM (SELECT prefecture_code, prefecture, sum(registered) AS registered
              FROM agg_residents GROUP BY prefecture_code, prefecture) r
        LEFT JOIN (SELECT prefecture_code, sum(vaccinated_residents) AS vaccinated
                   FROM agg_coverage WHERE dose = 2 GROUP BY prefecture_code) c USING (prefecture_code)
        ORDER BY r.prefecture_code
    """),
    table(layout, "接種率 上位・下位の市区町村 (top and bottom municipalities, dose 2)", """
        WITH ranked AS (
            SELECT r.prefecture, r.municipality, r.registered,
                   coalesce(c.vaccinated_residents, 0)::float8 / r.registered AS coverage
            FROM agg_residents r
            LEFT JOIN agg_coverage c ON c.municipality_code = r.municipality_code AND c.dose = 2
        )
        (SELECT '上位' AS rank_group, * FROM ranked ORDER BY coverage DESC, registered DESC LIMIT 10)
        UNION ALL
        (SELECT '下位' AS rank_group, * FROM ranked ORDER BY coverage ASC, registered DESC LIMIT 10)
    """),
]

dashboard = build("vrs-national", "接種状況 全国 (national)", panels)
