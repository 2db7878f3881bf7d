"""A second client: jsforce 3 under Node, talking HTTPS to the emulator.

Skips when node or jsforce is missing; CI installs it (.ci/run). To run it: `npm install jsforce@3`
in any directory and point `JSFORCE_NODE_PATH` at its `node_modules` (or install jsforce where Node
finds it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.sfemu import SEED_PASSWORD

SCRIPT = Path(__file__).parent / "js" / "jsforce_client.js"


def _node_env(sfemu) -> dict[str, str]:
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(sfemu.ca_path)}
    if os.environ.get("JSFORCE_NODE_PATH"):
        env["NODE_PATH"] = os.environ["JSFORCE_NODE_PATH"]
    return env


@pytest.fixture
def jsforce(sfemu_clean):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    found = subprocess.run(
        [node, "-e", "require.resolve('jsforce')"],
        env=_node_env(sfemu_clean),
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip("jsforce is not installed (set JSFORCE_NODE_PATH to its node_modules)")

    def run(**instructions: Any) -> dict[str, Any]:
        payload = {
            "loginUrl": sfemu_clean.login_url,
            "clientId": sfemu_clean.client_id,
            "clientSecret": sfemu_clean.client_secret,
            "version": "59.0",
            "username": "alice@example.com.sfemu",
            "password": SEED_PASSWORD,
            **instructions,
        }
        done = subprocess.run(
            [node, str(SCRIPT)],
            input=json.dumps(payload),
            env=_node_env(sfemu_clean),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def _user_id(sf, username: str) -> str:
    return sf.query(f"SELECT Id FROM User WHERE Username = '{username}'")["records"][0]["Id"]


def test_jsforce_logs_in_with_its_chunked_password_and_client_credentials_requests(
    jsforce, sfemu_clean
):
    seen = jsforce(query="SELECT Id FROM User")

    sf = sfemu_clean.simple_salesforce()
    assert seen["passwordUserId"] == _user_id(sf, "alice@example.com.sfemu")
    assert seen["clientCredentialsUserId"] == sfemu_clean.integration_user_id
    assert seen["queryTotal"] == 5


def test_jsforce_sends_a_composite_series_with_references(jsforce, sfemu_clean):
    v = "/services/data/v59.0"
    sfemu_clean.reset_request_log()

    seen = jsforce(
        composite={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{v}/sobjects/Task",
                    "referenceId": "refTask",
                    "body": {"Subject": "From jsforce"},
                },
                {
                    "method": "GET",
                    "url": f"{v}/sobjects/Task/@{{refTask.id}}?fields=Subject,Status",
                    "referenceId": "refRead",
                },
            ],
        }
    )

    created, read = seen["composite"]["compositeResponse"]
    assert created["httpStatusCode"] == 201
    assert read["httpStatusCode"] == 200
    assert read["body"]["Subject"] == "From jsforce"
    assert read["body"]["Status"] == "Not Started"
    assert sfemu_clean.request_log()["by_endpoint"]["POST composite"] == 1
