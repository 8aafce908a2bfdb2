"""Prefecture view (都道府県): its municipalities' doses and coverage; pick the prefecture at the top."""

from dashboards.panels import Layout, bars, build, pie, stat, table, timeseries, variable

layout = Layout()
panels = [
    timeseries(layout, "市区町村別 1日の接種回数 (doses per day by municipality)", """
        SELECT $__time(day_start), municipality AS metric, sum(count) AS doses
        FROM agg_doses_daily
        WHERE $__timeFilter(day_start) AND status = 'vaccinated' AND prefecture_code = '$prefecture'
        GROUP BY day_start, municipality ORDER BY 1
    """, stacked=True),
    stat(layout, "1回目 / 2回目 / 予診のみ (dose 1, dose 2, screened only)", """
        SELECT coalesce(sum(count) FILTER (WHERE status = 'vaccinated' AND dose = 1), 0) AS "1回目",
               coalesce(sum(count) FILTER (WHERE status = 'vaccinated' AND dose = 2), 0) AS "2回目",
               coalesce(sum(count) FILTER (WHERE status = 'screened_only'), 0) AS "予診のみ"
        FROM agg_doses_daily
        WHERE $__timeFilter(day_start) AND prefecture_code = '$prefecture'
    """),
    pie(layout, "ワクチンメーカー別 (share by maker)", """
        SELECT maker_label AS maker, sum(count) AS doses
        FROM agg_doses_daily
        WHERE $__timeFilter(day_start) AND status = 'vaccinated' AND prefecture_code = '$prefecture'
        GROUP BY maker_label ORDER BY 2 DESC
    """),
    bars(layout, "市区町村別 接種率 2回目 (coverage by municipality, dose 2)", """
        SELECT r.municipality, coalesce(c.vaccinated_residents, 0)::float8 / r.registered AS coverage
        FROM agg_residents r
        LEFT JOIN agg_coverage c ON c.municipality_code = r.municipality_code AND c.dose = 2
        WHERE r.prefecture_code = '$prefecture'
        ORDER BY r.municipality_code
    """),
    table(layout, "市区町村別 接種状況 (municipalities)", """
        SELECT r.municipality, r.registered,
               coalesce(c1.vaccinated_residents, 0) AS dose_1,
               coalesce(c2.vaccinated_residents, 0) AS dose_2,
               coalesce(q.unmatched, 0) AS unmatched_records
        FROM agg_residents r
        LEFT JOIN agg_coverage c1 ON c1.municipality_code = r.municipality_code AND c1.dose = 1
        LEFT JOIN agg_coverage c2 ON c2.municipality_code = r.municipality_code AND c2.dose = 2
        LEFT JOIN agg_quality q ON q.municipality_code = r.municipality_code
        WHERE r.prefecture_code = '$prefecture'
        ORDER BY r.municipality_code
    """, full_width=True),
]

dashboard = build(
    "vrs-prefecture", "接種状況 都道府県 (prefecture)", panels,
    variables=[variable("prefecture", "都道府県", """
        SELECT DISTINCT prefecture_code AS __value, prefecture AS __text
        FROM agg_municipalities ORDER BY 1
    """)],
)
