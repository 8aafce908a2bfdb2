"""The hub's database layer: migrations, role-switching connections, per-transaction tenant scope, and
the queries of each table group (venues, devices, vaccinations, aggregates, export)."""
