"""Municipality operations (市区町村): doses per hour per venue, records needing a look, export freshness."""

from dashboards.panels import Layout, build, stat, table, timeseries, variable

layout = Layout()
panels = [
    timeseries(layout, "会場別 1時間の接種回数 (doses per hour per venue)", """
        SELECT $__timeGroupAlias(bucket, '1h'), venue_id AS metric, sum(count) AS doses
        FROM agg_hourly
        WHERE $__timeFilter(bucket) AND municipality_code = '$municipality'
        GROUP BY 1, venue_id ORDER BY 1
    """, stacked=True),
    stat(layout, "未照合の記録 (records not matched to a resident)", """
        SELECT coalesce(sum(unmatched), 0) AS unmatched
        FROM agg_quality WHERE municipality_code = '$municipality'
    """),
    stat(layout, "最終出力からの時間 (since the last ledger export)", """
        SELECT extract(epoch FROM now() - max(last_export_at)) AS seconds_since_export
        FROM agg_exports WHERE municipality_code = '$municipality'
    """, unit="s"),
    table(layout, "会場別 今期間の接種 (doses per venue in the period)", """
        SELECT venue_id, dose, status, sum(count) AS doses
        FROM agg_hourly
        WHERE $__timeFilter(bucket) AND municipality_code = '$municipality'
        GROUP BY venue_id, dose, status ORDER BY venue_id, dose, status
    """),
]

dashboard = build(
    "vrs-municipality", "接種業務 市区町村 (municipality operations)", panels, time_from="now-2d",
    variables=[variable("municipality", "市区町村", """
        SELECT municipality_code AS __value, prefecture || ' ' || name AS __text
        FROM agg_municipalities WHERE NOT is_ward ORDER BY 1
    """)],
)
