"""One reader per source format; each returns an :class:`~.common.IngestResult`."""
