"""The settings pytest runs with (pyproject's DJANGO_SETTINGS_MODULE): Cockpit's own module,
read as `make test` reads it, so a bare `.venv/bin/pytest` needs no exported variables.

DEBUG defaults to true here, as in `make run` and `make test`: its generated development key
stands in for SECRET_KEY (pytest-django still runs each test with DEBUG off). Only pytest
imports this module; production still refuses to start without SECRET_KEY
(tests/cockpit/test_deploy_settings.py). Processes the tests start get an environment of their
own (tests/e2e/stack.py), never this module.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DEBUG", "true")
# The counters this test run keeps (prometheus-client's multiprocess files): a folder of its
# own, not var/prometheus, which `make run` shares with its processes.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cockpit-metrics-")
atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from cockpit.settings import *  # noqa: E402, F403

# Celery messages the tests send stay in this process (tests/conftest.py's `worker` runs them):
# none reaches a broker a real worker reads.
CELERY_BROKER_URL = "memory://"
# The in-process test worker (tests/conftest.py, Worker) runs a message at once, its countdown
# ignored: a push paced after a cycle of two calls would send itself again for ever. The tests
# of pacing switch it on; the whole-stack tests run it as production does.
SYNC_PUSH_PACING = False

# A fast hasher: the production one (PBKDF2, a million rounds) costs ~0.35 s a user, and the
# suite makes hundreds. Production's hasher is checked in tests/cockpit/test_deploy_settings.py.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Without CACHE_URL (CI's PostgreSQL pass sets Redis), throttle counts stay in this process:
# each test starts from an empty cache (tests/conftest.py) and no two runs share one. The
# embedded default, a file cache under var/ shared by processes, is checked in
# tests/security/test_throttling_and_tokens.py.
if not os.environ.get("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
