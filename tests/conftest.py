"""Test-wide setup: the real-service fixtures and the hypothesis profile."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.fixtures_postgres", "tests.fixtures_mosquitto"]

# The machine has two cores and the suite shares them with real servers: deadlines would only add flakes.
settings.register_profile("vrs", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("vrs")
