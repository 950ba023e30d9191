"""The one serving component: preprocessing, TTA and the decision rule, the runtime session, the
runner, heat maps, result records, and :func:`dermcad.inference.models.open_models`, the one entry
that opens models for the API, the workers, ``dermcad predict``, ``registry verify`` and export.

See docs/architecture.md. This ``__init__`` imports nothing, so that importing
:mod:`dermcad.inference.preprocess` stays cheap.
"""
