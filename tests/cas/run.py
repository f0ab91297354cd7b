"""Starts the test CAS server: `python run.py PORT DB_FILE`.

Migrates a fresh SQLite database, creates the test users (alice, in groups staff and
admins; bob, in no group), then serves Django's development server on 127.0.0.1:PORT
without the autoreloader. Prints "CAS ready" once the users exist.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    port, db = sys.argv[1], sys.argv[2]
    sys.path.insert(0, HERE)
    os.environ["DJANGO_SETTINGS_MODULE"] = "casserver.settings"
    os.environ["CAS_TEST_DB"] = db

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import Group, User

    alice = User.objects.create_user(
        "alice", "alice@example.org", "wonderland", first_name="Alice", last_name="Liddell"
    )
    for name in ("staff", "admins"):
        alice.groups.add(Group.objects.create(name=name))
    User.objects.create_user("bob", "bob@example.org", "builder", first_name="Bob")
    print("CAS ready", flush=True)
    call_command("runserver", "127.0.0.1:%s" % port, use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main()
