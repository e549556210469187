"""The ASGI entry point: `asgi_app djproj.asgi:application;`.

Django's ASGIHandler: async views run on the worker's asyncio loop, sync
views and the ORM in asgiref's thread. It raises on the lifespan scope,
so asgi_lifespan auto serves it without lifespan.

Importing it prepares the database as wsgi.py does (database.py).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproj.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

from djproj import database  # noqa: E402

database.prepare()
