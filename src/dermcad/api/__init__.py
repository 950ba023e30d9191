"""The HTTP API: ``create_app(settings)`` (FastAPI), thin routes over :mod:`dermcad.api.service`."""
