"""The hub's database layer: migrations, role-switching connections, per-transaction tenant scope, and
the queries of each table group (venues, devices, vaccinations, aggregates, export).

Rules every writer of vaccination records follows (the ingest and the admin API alike), so that the
current state and the hourly aggregates stay equal to a recount of the history:

1. inside ``scoped(conn, scope)``, claim the new record ids (``vaccinations.claim_record_ids``) and hold
   the municipalities touched (``vaccinations.lock_municipalities``) before reading the current state;
2. compute the state after the change with ``versions.latest`` (latest unvoided registration per
   municipality + voucher + dose) and append every record to the history (``insert_history``);
3. write the changed keys with ``vaccinations.write_current`` and move the counts with
   ``aggregates.apply_deltas(conn, versions.aggregate_deltas(before, after))`` in the same transaction.
"""
