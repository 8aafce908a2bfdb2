"""The ingest: turns signed record batches from the broker into database records exactly once.

Pure core: ``verify`` (signature, topic, device and record checks), ``dose_warnings``, and the current-state
rules of hub.db.versions. Shell: ``apply`` (one transaction per group of batches),
``worker`` (the MQTT loop, acks after commit), ``backoff``. Its errors are hub.errors.IngestError.
"""
