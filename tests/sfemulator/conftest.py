from tests.sfemu import sfemu, sfemu_clean  # noqa: F401
