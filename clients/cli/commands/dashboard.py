"""`rnnvoice dashboard`: the Grafana dashboard's own queries, run on a Prometheus and drawn as a PNG."""

import argparse
import json
import time
from pathlib import Path

from rnnvoice.clients.errors import UsageError

HELP = "draw the Grafana dashboard's queries from a Prometheus as a PNG"
DASHBOARD = Path("deploy/grafana/dashboards/rnnvoice.json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prometheus", default="http://localhost:9090", help="Prometheus to query")
    p.add_argument("--dashboard", type=Path, default=DASHBOARD, help="the Grafana dashboard JSON")
    p.add_argument("--minutes", type=float, default=15.0, help="time range, ending now")
    p.add_argument("--rate-interval", default="1m", help="what Grafana's $__rate_interval stands for")
    p.add_argument("--out", type=Path, default=Path("deploy/grafana/dashboard-preview.png"), help="the PNG to write")


def run(args) -> int:
    from rnnvoice.clients.qa.dashboard import fill_panels
    from rnnvoice.models.evaluation.plots import plot_dashboard, plots_missing

    if why := plots_missing():  # the PNG is all it makes
        raise UsageError(why)
    dashboard = json.loads(args.dashboard.read_text())
    end = time.time()
    start = end - args.minutes * 60
    filled = fill_panels(args.prometheus, dashboard, start, end, max(1.0, (end - start) / 300), args.rate_interval)
    plot_dashboard(filled, f"{dashboard['title']}, last {args.minutes:g} min", args.out)
    print(f"wrote {args.out}")
    return 0
