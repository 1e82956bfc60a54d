"""Reads a server's Prometheus /metrics: sample values by name and labels, and the bucket counts of histograms."""

import ssl
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(url: str, timeout_s: float = 10.0, context: ssl.SSLContext | None = None) -> list[Sample]:
    """Every sample at url (http://host:port/metrics, or https:// trusting `context`'s authorities)."""
    with urllib.request.urlopen(url, timeout=timeout_s, context=context) as response:
        text = response.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called name whose labels include these."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def buckets(samples: list[Sample], name: str, **labels: str) -> dict[float, float]:
    """Cumulative counts of histogram name by upper bound, summed over the other labels."""
    counts: dict[float, float] = {}
    for s in samples:
        if s.name == f"{name}_bucket" and labels.items() <= s.labels.items():
            le = float(s.labels["le"])
            counts[le] = counts.get(le, 0.0) + s.value
    return dict(sorted(counts.items()))
