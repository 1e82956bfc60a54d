"""`rnnvoice dashboard`: the Grafana dashboard's own queries, run on a Prometheus, drawn as a PNG, GRU beside LSTM."""

import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from rnnvoice.clients.client import CELLS


@dataclass
class Series:
    label: str
    times: list[float]
    values: list[float]


@dataclass
class Panel:
    """One panel as Grafana shows it with both cells selected: a repeated panel becomes one per cell."""

    title: str
    unit: str
    row: int
    column: int
    queries: list[tuple[str, str]]  # (PromQL, legend format)
    series: list[Series] = field(default_factory=list)


def _fill(text: str, cell: str | None, rate_interval: str) -> str:
    text = text.replace("$__rate_interval", rate_interval)
    return text.replace("$cell", cell) if cell else text


def panels(dashboard: dict, rate_interval: str = "1m") -> list[Panel]:
    """The dashboard's panels in reading order, with $cell and $__rate_interval filled in."""
    out = []
    for p in sorted(dashboard["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        repeated = p.get("repeat") == "cell"
        for i, cell in enumerate(CELLS if repeated else (None,)):
            column = i if repeated else p["gridPos"]["x"] // 12
            queries = [(_fill(t["expr"], cell, rate_interval), t.get("legendFormat", "")) for t in p["targets"]]
            title = p["title"].replace("$cell", cell.upper()) if cell else p["title"]
            out.append(
                Panel(title, p["fieldConfig"]["defaults"].get("unit", "none"), p["gridPos"]["y"], column, queries)
            )
    return out


def query_range(prometheus: str, expr: str, start: float, end: float, step_s: float) -> list[dict]:
    """Prometheus' answer to one range query: a list of {"metric": labels, "values": [[t, "v"], ...]}."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step_s})
    with urllib.request.urlopen(f"{prometheus.rstrip('/')}/api/v1/query_range?{params}", timeout=30) as response:
        answer = json.load(response)
    if answer["status"] != "success":
        raise RuntimeError(f"{expr}: {answer.get('error')}")
    return answer["data"]["result"]


def legend(fmt: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), fmt) or str(labels)


def fill_panels(
    prometheus: str, dashboard: dict, start: float, end: float, step_s: float, rate_interval: str
) -> list[Panel]:
    """Every panel with the series its queries return over [start, end]."""
    filled = panels(dashboard, rate_interval)
    for panel in filled:
        for expr, fmt in panel.queries:
            for result in query_range(prometheus, expr, start, end, step_s):
                times, values = zip(*((float(t), float(v)) for t, v in result["values"]))
                panel.series.append(Series(legend(fmt, result["metric"]), list(times), list(values)))
    return filled
