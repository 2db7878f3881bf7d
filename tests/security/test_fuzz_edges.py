"""The fuzzing budget's edges (.ci/fuzz_edges.py) hold against the app: deep nesting and
boundary integers on every write operation and integer query parameter answer under 500,
in JSON. CI's fuzz-api runs the same script against gunicorn on PostgreSQL."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token

from tests.factories import AdminFactory, TaskFactory

ROOT = Path(__file__).resolve().parents[2]
# As .ci/fuzz-api: these call Salesforce inline or revoke the fuzzer's own token.
EXCLUDED = (
    "v1_sync_connections_test_create",
    "v1_sync_connections_match_users_create",
    "v1_sync_pull_create",
    "v1_sync_push_create",
    "v1_tasks_sync_create",
    "v1_auth_token_destroy",
)


@pytest.mark.django_db(transaction=True)
def test_deep_nesting_and_boundary_integers_never_answer_500(live_server, tmp_path, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            k: "1000000/minute" for k in ("anon", "login", "login_username")
        },
    }
    fuzzer = AdminFactory(username="fuzzer")
    TaskFactory(owner=fuzzer)
    token = Token.objects.create(user=fuzzer).key
    schema = SchemaGenerator().get_schema(request=None, public=True)
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(schema, default=str))

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / ".ci" / "fuzz_edges.py"),
            str(schema_path),
            live_server.url,
            token,
            *EXCLUDED,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " 0 failed" in result.stdout
    print(result.stdout.splitlines()[-1])
