"""The scan station: camera to voucher (capture), voucher to a durable, signed, acknowledged record (queue),
and the kiosk page reception staff look at (display), wired together by ``edge.station``.

Exceptions::

    EdgeError                   base of everything the station raises on purpose (edge)
     +-- ConfigError            the TOML config is missing, malformed or names something unusable
     |                          (edge.config; .field names the setting, e.g. "broker.url")
     +-- OutboxError            the outbox database cannot be opened or written (edge.queue.outbox)
     +-- PresetError            a preset value cannot go into a record (edge.queue.records; .field)
     +-- ScanRefused            a read voucher cannot become a record as it stands (edge.queue.records;
     |                          .code: "invalid_record", "dose_unknown", "hold_gone", "not_undoable")
     +-- BuzzerError            the configured GPIO buzzer cannot be driven (edge.display.buzzer)

    CaptureError                camera, decoder and font problems; drawn in edge/capture/__init__.py

A second scan of the same voucher and dose, or a voucher without a dose, is not an error: the desk returns a
``Held`` outcome for staff to decide. Errors from ``protocol`` (VoucherError, RecordError, SignatureError)
pass through unchanged. Only ``edge.display`` turns any of these into what the kiosk shows.
"""


class EdgeError(Exception):
    """Base of every error the station raises on purpose."""
