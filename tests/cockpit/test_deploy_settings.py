import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Production's settings module and nothing the test run set: not pytest's
    # DJANGO_SETTINGS_MODULE (tests.settings), nor the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE.
    # Nor the test run's own folder of metric counters (tests/settings.py).
    dropped = (
        "DEBUG",
        "SECRET_KEY",
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "PROMETHEUS_MULTIPROC_DIR",
    )
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check_once_tls_settings_are_given(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "x9!Qz" * 10,
        COCKPIT_VAR_DIR=str(tmp_path),
        SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_check_asks_only_for_hsts_by_default(tmp_path):
    # HSTS belongs to whoever terminates TLS; everything else is safe by default.
    result = run_manage(
        "check",
        "--deploy",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "x9!Qz" * 10,
        COCKPIT_VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    warnings = {
        line.split(")")[0] + ")" for line in result.stderr.splitlines() if "(security." in line
    }
    assert warnings == {"?: (security.W004)"}, result.stderr


def test_start_up_fails_naming_secret_key_when_debug_is_off_and_it_is_missing(tmp_path):
    result = run_manage("check", DEBUG="false", COCKPIT_VAR_DIR=str(tmp_path))

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_hashes_passwords_with_pbkdf2_not_the_tests_fast_hasher(tmp_path):
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.PASSWORD_HASHERS[0])",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "x9!Qz" * 10,
        COCKPIT_VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        result.stdout.strip().splitlines()[-1] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"
    )


def _mail_settings(tmp_path, **env: str) -> list[str]:
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL)",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "x9!Qz" * 10,
        COCKPIT_VAR_DIR=str(tmp_path),
        **env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1].split()


def test_mail_goes_to_the_console_until_a_server_is_configured_by_email_url(tmp_path):
    assert _mail_settings(tmp_path)[0] == "django.core.mail.backends.console.EmailBackend"
    assert _mail_settings(
        tmp_path,
        EMAIL_URL="smtp+tls://cockpit:pw@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="cockpit@example.com",
    ) == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
        "cockpit@example.com",
    ]
