"""The web process tunes Python's garbage collector once the application is loaded
(cockpit/gc_tuning.py): checked in a process of its own, as gunicorn's workers import it."""

import subprocess
import sys

from cockpit.gc_tuning import THRESHOLDS


def test_loading_the_wsgi_application_freezes_what_it_loaded_and_raises_the_thresholds():
    probe = "import gc, cockpit.wsgi; print(gc.get_threshold(), gc.get_freeze_count() > 10000)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
    ).stdout.split("\n")[-2]
    assert out == f"{THRESHOLDS} True"
