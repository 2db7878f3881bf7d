"""Reading /metrics as Prometheus does, for the tests of the metrics."""

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scrape-token-for-the-tests-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Any, token: str = TOKEN) -> Samples:
    """Every sample of a scrape: (name, sorted labels) → value."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return samples(response.content.decode())


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
