"""Who may read /metrics: a bearer token (METRICS_TOKEN) or an allowed address, nobody else."""

import ipaddress

import pytest

from tests.cockpit.test_deploy_settings import run_manage
from tests.metrics import TOKEN, samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return TOKEN


def test_a_scrape_with_the_token_reads_the_metrics(client, token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples(response.content.decode())
    assert found[("cockpit_outbox_entries", (("state", "pending"),))] == 0
    assert found[("cockpit_metrics_database_up", ())] == 1
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_a_scrape_without_the_token_or_with_a_wrong_one_is_refused_with_401(client, token):
    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "x" * len(token))
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {token}")

    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"cockpit_" not in response.content


def test_a_logged_in_admin_still_needs_the_token(client, token, admin_user):
    client.force_login(admin_user)

    assert client.get("/metrics").status_code == 401


def test_an_allowed_address_reads_the_metrics_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403


def test_an_allowed_address_in_x_forwarded_for_is_not_believed(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert response.status_code == 403


def test_metrics_are_closed_until_a_token_or_an_address_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


def test_prometheus_scrapes_over_plain_http_when_https_is_enforced(client, token, settings):
    # Prometheus scrapes from inside the network, as load balancers check /healthz.
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.get("/").status_code == 301


def test_start_up_fails_naming_metrics_token_when_it_is_too_short(tmp_path):
    result = run_manage("check", DEBUG="true", COCKPIT_VAR_DIR=str(tmp_path), METRICS_TOKEN="short")

    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 16 characters" in result.stderr


def test_start_up_fails_naming_the_allow_list_entry_that_is_not_an_address(tmp_path):
    result = run_manage(
        "check", DEBUG="true", COCKPIT_VAR_DIR=str(tmp_path), METRICS_ALLOWED_IPS="10.0.0.0/8,nope"
    )

    assert result.returncode != 0
    assert "METRICS_ALLOWED_IPS: 'nope' is not an IP address" in result.stderr


def test_the_multiprocess_folder_is_private(tmp_path):
    result = run_manage("check", DEBUG="true", COCKPIT_VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "prometheus").stat().st_mode & 0o777 == 0o700
