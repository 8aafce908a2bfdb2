"""HTTP handlers: pages (Jinja2, Japanese) and JSON under /api/v1/, one module per area of the admin."""
