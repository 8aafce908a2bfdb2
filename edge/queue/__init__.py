"""The station's outbox and its publisher: a record is committed to SQLite before the beep, then sent to the
hub in signed batches and deleted only when a hub-signed ack names it."""
