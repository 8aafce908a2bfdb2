"""The hub's web face: JSON API under /api/v1/ (OpenAPI at /schema) and the municipal admin pages.

Layering: controllers (HTTP, templates) -> services (rules of the admin work) -> hub.db (queries).
Every request runs in one database transaction scoped to the caller (row-level security does the
tenancy); exceptions become HTTP answers only in hub.api.app.

Exceptions (hub.api.errors)::

    ApiError                    base of everything raised here
     +-- NotAuthenticated       no valid session cookie or bearer token (401, or the login page)
     +-- NotFound               the thing does not exist or is outside the caller's scope (404)
     +-- LoginThrottled         too many failed logins for this name or address (429)
     +-- CsrfRejected           an unsafe request from a session lacks the form's CSRF token (403)
     +-- InvalidInput           the request is well-formed HTTP but its content is wrong (400/422)
"""
