"""Task records and back ends: one interface, the embedded SQLite back end (Celery can follow)."""
