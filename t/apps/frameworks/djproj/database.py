"""The test database of djproj, made ready when the project is imported by
wsgi.py or asgi.py: the (fresh, per-process) SQLite database of settings.py
migrated, so the first request finds its tables, and the test superuser
("admin", password "ngx-wsgi") made if it is missing."""


def prepare():
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
