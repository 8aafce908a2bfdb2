"""Station fleet: which stations are online, how far behind they are, which ones need a visit."""

from dashboards.panels import Layout, build, stat, table

# A station is falling behind when it holds records and the hub has committed nothing of it for this long.
STALE = "interval '15 minutes'"

layout = Layout()
panels = [
    stat(layout, "接続中 / 切断 (stations online / offline)", """
        SELECT count(*) FILTER (WHERE state = 'online') AS online,
               count(*) FILTER (WHERE state <> 'online') AS offline
        FROM agg_stations WHERE enrollment = 'active'
    """),
    stat(layout, "未送信の記録 (records waiting on stations)", """
        SELECT coalesce(sum(queue_depth), 0) AS queued FROM agg_stations WHERE enrollment = 'active'
    """),
    table(layout, "滞留が増えている端末 (stations with a growing backlog)", f"""
        SELECT device_id, venue, municipality, state, queue_depth, last_seen_at, last_batch_at
        FROM agg_stations
        WHERE enrollment = 'active' AND queue_depth > 0
          AND (last_batch_at IS NULL OR last_batch_at < now() - {STALE})
        ORDER BY queue_depth DESC
    """, full_width=True),
    table(layout, "端末一覧 (all stations)", """
        SELECT device_id, venue, municipality, state, queue_depth, version, last_seen_at, last_batch_at
        FROM agg_stations WHERE enrollment = 'active'
        ORDER BY state, last_seen_at NULLS FIRST
    """, full_width=True),
]

dashboard = build("vrs-fleet", "端末の稼働状況 (station fleet)", panels, time_from="now-1d")
