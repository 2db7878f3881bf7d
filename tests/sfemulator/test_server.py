"""The process: HTTPS with its own CA, versions and routing, seeding, restarts."""

from __future__ import annotations

import stat

import certifi
import pytest
import requests
from simple_salesforce import Salesforce

from tests.sfemu import EmulatorProcess, SalesforceEmulator, trusting_session


@pytest.fixture
def own_emulator(tmp_path):
    """A private emulator process, for tests that restart it or need demo data."""
    process = EmulatorProcess(tmp_path, seed="demo")
    process.start()
    yield SalesforceEmulator(process)
    process.stop()


def test_it_serves_https_with_a_certificate_from_its_own_ca(sfemu):
    assert sfemu.base_url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sfemu.base_url}/services/data/", verify=True, timeout=10)

    response = trusting_session(sfemu.ca_path).get(f"{sfemu.base_url}/services/data/")
    assert response.status_code == 200


def test_it_needs_the_adapter_because_requests_ca_bundle_overrides_session_verify(
    sfemu, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    url = f"{sfemu.base_url}/services/data/"
    naive = requests.Session()
    naive.verify = sfemu.ca_path

    with pytest.raises(requests.exceptions.SSLError):
        naive.get(url, timeout=10)
    assert trusting_session(sfemu.ca_path).get(url, timeout=10).status_code == 200


def test_it_is_trusted_for_localhost_too(sfemu):
    url = sfemu.base_url.replace("127.0.0.1", "localhost") + "/services/data/"

    assert trusting_session(sfemu.ca_path).get(url).status_code == 200


def test_it_lists_api_versions_50_to_62_without_a_token(sfemu):
    versions = sfemu.session.get(f"{sfemu.base_url}/services/data").json()

    assert [v["version"] for v in versions] == [f"{n}.0" for n in range(50, 63)]
    assert versions[9] == {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}


@pytest.mark.parametrize("version", ["50.0", "59.0", "62.0"])
def test_it_serves_every_supported_version(sfemu_clean, version):
    sf = sfemu_clean.simple_salesforce(version=version)

    result = sf.query("SELECT Id FROM User LIMIT 1")

    assert result["records"][0]["attributes"]["url"].startswith(f"/services/data/v{version}/")


@pytest.mark.parametrize("version", ["49.0", "63.0"])
def test_it_does_not_know_other_versions(sfemu_clean, version):
    response = sfemu_clean.session.get(
        sfemu_clean.data_url("limits/", version=version),
        headers={"Authorization": f"Bearer {sfemu_clean.token()['access_token']}"},
    )

    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_it_answers_unknown_resources_and_methods_like_salesforce(sfemu_clean):
    headers = {"Authorization": f"Bearer {sfemu_clean.token()['access_token']}"}
    session = sfemu_clean.session

    unknown = session.get(sfemu_clean.data_url("sobjects/Opportunity/describe"), headers=headers)
    wrong_method = session.put(sfemu_clean.data_url("limits"), headers=headers)

    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_it_lists_its_resources(sfemu_clean):
    sf = sfemu_clean.simple_salesforce()

    resources = sf.restful("")

    assert resources["query"] == "/services/data/v59.0/query"


def test_it_seeds_demo_users_accounts_and_tasks(own_emulator):
    sf = own_emulator.simple_salesforce()

    emails = {r["Email"] for r in sf.query("SELECT Email FROM User")["records"]}
    accounts = {r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]}
    tasks = sf.query("SELECT Owner.Email, What.Name, ActivityDate FROM Task")["records"]

    assert {
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    } <= emails
    assert accounts == {"Acme Corp", "Globex", "Initech", "Umbrella"}
    assert len(tasks) >= 10
    assert {t["Owner"]["Email"] for t in tasks} == {
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    }


def test_it_keeps_data_and_does_not_reseed_across_a_restart(own_emulator):
    sf = own_emulator.simple_salesforce()
    task_id = sf.Task.create({"Subject": "Survives restarts", "Cockpit_Task_Id__c": "ck-r"})["id"]
    sf.Task.delete(
        sf.query("SELECT Id FROM Task WHERE Subject LIKE 'Renewal%'")["records"][0]["Id"]
    )
    before = sf.query("SELECT COUNT() FROM Task")["totalSize"]
    old_token = own_emulator.token()

    own_emulator.restart()

    sf = own_emulator.simple_salesforce()
    assert sf.Task.get(task_id)["Subject"] == "Survives restarts"
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == before
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 4
    assert (
        sf.query_all("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)[
            "totalSize"
        ]
        == 1
    )
    # Tokens survive a restart as Salesforce sessions do (the port changed, so use the new URL).
    again = Salesforce(
        instance_url=own_emulator.base_url,
        session_id=old_token["access_token"],
        session=own_emulator.requests_session(),
    )
    assert again.Task.get(task_id)["Id"] == task_id


def test_it_keeps_its_state_and_keys_owner_only(tmp_path):
    state_dir, cert_dir = tmp_path / "state", tmp_path / "certs"
    process = EmulatorProcess(tmp_path, state_path=state_dir / "state.sqlite3", cert_dir=cert_dir)

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    process.start()
    try:
        SalesforceEmulator(process).token()  # a token row in the state file
        # The database, its WAL and shared-memory files, while the emulator runs.
        state_files = {p.name: mode(p) for p in state_dir.iterdir()}
    finally:
        process.stop()

    assert mode(state_dir) == 0o700
    assert state_files["state.sqlite3"] == 0o600
    assert "state.sqlite3-wal" in state_files
    assert set(state_files.values()) == {0o600}
    assert mode(cert_dir) == 0o700
    assert mode(cert_dir / "ca-key.pem") == 0o600
    assert mode(cert_dir / "server-key.pem") == 0o600
