"""The WSGI entry point: `wsgi_app djproj.wsgi:application;`.

Importing it migrates the (fresh, per-process) SQLite database of
settings.py, so the first request finds its tables, and makes the test
superuser ("admin", password "ngx-wsgi") if it is missing (database.py).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproj.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from djproj import database  # noqa: E402

database.prepare()
