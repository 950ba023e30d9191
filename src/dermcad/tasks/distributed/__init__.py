"""The distributed task back end: records and images in Redis, Celery workers (``dermcad worker``).

- :mod:`.config` the settings of the back end, taken from :class:`dermcad.settings.Settings`.
- :mod:`.store` task records, images and heat-map arrays in Redis, with the time-to-live.
- :mod:`.backend` the :class:`dermcad.tasks.base.TaskBackend` the API uses.
- :mod:`.worker` the Celery app and the task the workers run.

Celery and redis are imported only by the modules that need them (the ``distributed`` extra).
"""
