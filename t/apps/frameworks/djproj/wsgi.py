"""The WSGI entry point: `wsgi_app djproj.wsgi:application;`.

Importing it migrates the (fresh, per-process) SQLite database of
settings.py, so the first request finds its tables, and makes the test
superuser ("admin", password "ngx-wsgi") if it is missing.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproj.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def _prepare_database():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    users = get_user_model()
    if not users.objects.filter(username="admin").exists():
        users.objects.create_superuser("admin", "admin@example.invalid", "ngx-wsgi")
    # The import runs on the worker's main thread; requests run on others,
    # each with its own connection.
    connection.close()


_prepare_database()
