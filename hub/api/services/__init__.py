"""Rules of the admin work, between the HTTP controllers and the database queries."""
