"""Create the first admin (and optionally the demo data) once; safe to run on every start."""

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cockpit.demo import CSMS, demo_connection_create, demo_load
from cockpit.files import private_write
from sync.health import STEP_TITLES


class Command(BaseCommand):
    help = "Create the first admin from DJANGO_SUPERUSER_* (or a generated password) and demo data."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--demo", action="store_true", help="Load the demo data once.")

    def handle(self, *args: Any, demo: bool, **options: Any) -> None:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "admin@example.com")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        password_file = settings.VAR_DIR / "admin_password"
        if not User.objects.filter(username=username).exists():
            if not username.strip():
                raise CommandError("DJANGO_SUPERUSER_USERNAME is empty.")
            if not password:
                password = secrets.token_urlsafe(12)
                private_write(password_file, password + "\n")
            User.objects.create_superuser(username=username, email=email, password=password)
            self.stdout.write(f"Created admin '{username}'.")
        if demo:
            demo_file = settings.VAR_DIR / "demo_password"
            result = demo_load()
            if result.created:
                private_write(demo_file, result.password + "\n")
                self.stdout.write("Loaded demo data.")
            emulator = os.environ.get("SFEMU_URL", "")
            if emulator and demo_connection_create(
                login_url=emulator,
                client_id=os.environ.get("SFEMU_CLIENT_ID", ""),
                client_secret=os.environ.get("SFEMU_CLIENT_SECRET", ""),
                ca_bundle=os.environ.get("SFEMU_CA", ""),
            ):
                # The same steps as the getting-started checklist on Sync health (/sync/).
                test, match, switch, first = STEP_TITLES
                self.stdout.write(
                    "Added the connection 'Local Salesforce emulator'. Getting started (the "
                    f"checklist on Sync health, /sync/, links each step): 1. {test} (open the "
                    f"connection in the admin), 2. {match} (same page; without it no task can "
                    f"be pushed), 3. {switch} (Sync settings), 4. {first}: it starts then; "
                    "watch it on Sync health."
                )
        self._print_logins(username, password_file, demo)

    def _print_logins(self, username: str, password_file: Any, demo: bool) -> None:
        if os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            admin_pw = "(DJANGO_SUPERUSER_PASSWORD)"
        elif password_file.exists():
            admin_pw = password_file.read_text().strip()
        else:
            admin_pw = "(set earlier)"
        self.stdout.write(f"  admin login: {username} / {admin_pw}")
        demo_file = settings.VAR_DIR / "demo_password"
        if demo and demo_file.exists():
            csms = ", ".join(c[0] for c in CSMS)
            self.stdout.write(f"  CSM logins:  {csms} / {demo_file.read_text().strip()}")
