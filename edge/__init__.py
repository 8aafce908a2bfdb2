"""The scan station: camera to voucher (capture), voucher to a durable, signed, acknowledged record (queue),
and the kiosk page reception staff look at (display), wired together by ``edge.station``.

Exceptions::

    EdgeError                   base of everything the station raises on purpose (edge)
     +-- ConfigError            the TOML config is missing, malformed or names something unusable
     |                          (edge.config; .field names the setting)
     +-- OutboxError            the outbox database cannot be opened or written (edge.queue.outbox)
     +-- PresetError            a preset value is not usable for a record (edge.queue.records; .field)
     +-- ScanRefused            a voucher was read but no record may be made of it yet (edge.queue.records;
                                .code says why: "duplicate_today", "dose_unknown", "invalid_record")

Errors from ``protocol`` (VoucherError, RecordError, SignatureError, ...) pass through unchanged. Only
``edge.display`` turns these into what the kiosk shows ("needs attention" or "error").
"""


class EdgeError(Exception):
    """Base of every error the station raises on purpose."""
