import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tasks.models import Task

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_bootstrap_creates_the_admin_from_the_environment_once(monkeypatch, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-secret")

    call_command("bootstrap")
    call_command("bootstrap")

    boss = User.objects.get(username="boss")
    assert boss.is_superuser
    assert boss.check_password("a-long-admin-secret")


def test_bootstrap_generates_and_prints_a_password_when_none_is_given(
    monkeypatch, tmp_path, settings, capsys
):
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "admin")

    call_command("bootstrap")

    password = (tmp_path / "admin_password").read_text().strip()
    assert User.objects.get(username="admin").check_password(password)
    assert password in capsys.readouterr().out


def test_demo_data_loads_once_with_tasks_due_today_tomorrow_overdue_and_later(tmp_path, settings):
    settings.VAR_DIR = tmp_path

    call_command("bootstrap", "--demo")
    count = Task.objects.count()
    call_command("bootstrap", "--demo")

    assert Task.objects.count() == count > 0
    alice = User.objects.get(username="alice")
    assert alice.email == "alice@example.com"
    from tasks.selectors import tasks_due, user_today

    today = user_today(alice)
    mine = Task.objects.filter(owner=alice)
    for due in ("today", "tomorrow", "overdue", "upcoming"):
        assert tasks_due(mine, due=due, today=today).exists(), due


def test_the_demo_points_at_the_local_emulator_once(monkeypatch, tmp_path, settings):
    from adminconfig.models import SalesforceConnection

    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("SFEMU_URL", "https://127.0.0.1:8443")
    monkeypatch.setenv("SFEMU_CLIENT_ID", "cockpit-demo")
    monkeypatch.setenv("SFEMU_CLIENT_SECRET", "demo-secret")
    monkeypatch.setenv("SFEMU_CA", "/tmp/ca.pem")

    call_command("bootstrap", "--demo")
    call_command("bootstrap", "--demo")

    connection = SalesforceConnection.objects.get()
    assert connection.is_primary
    assert connection.login_url == "https://127.0.0.1:8443"
    assert connection.ca_bundle == "/tmp/ca.pem"
