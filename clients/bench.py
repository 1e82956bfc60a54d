"""`rnnvoice bench`: GRU against LSTM under the same load: latency seen by client and server, speed, memory."""

import math
from pathlib import Path

from rnnvoice.clients.client import read_audio
from rnnvoice.clients.load import CellLoad, run_load
from rnnvoice.clients.scrape import buckets, histogram_quantile, scrape, subtract, value

QUANTILES = (50, 90, 99)
# (key, row label, scale) of the printed table; the JSON has every key unscaled.
ROWS = (
    ("client_latency_p50_ms", "client latency p50 (ms)", 1), ("client_latency_p90_ms", "client latency p90 (ms)", 1),
    ("client_latency_p99_ms", "client latency p99 (ms)", 1), ("client_latency_mean_ms", "client latency mean (ms)", 1),
    ("server_latency_p50_ms", "server latency p50 (ms)", 1), ("server_latency_p90_ms", "server latency p90 (ms)", 1),
    ("server_latency_p99_ms", "server latency p99 (ms)", 1), ("server_latency_mean_ms", "server latency mean (ms)", 1),
    ("compute_p50_ms", "compute per chunk p50 (ms)", 1), ("real_time_factor", "real-time factor", 1),
    ("server_rss_bytes", "server RSS (MiB)", 2**-20), ("state_bytes", "state per stream (bytes)", 1),
    ("parameter_bytes", "parameters (KiB)", 2**-10), ("failed_streams", "failed streams", 1),
)


def client_side(load: CellLoad) -> dict:
    report = {f"client_latency_p{q}_ms": load.latency_ms(q) for q in QUANTILES}
    mean_s = sum(load.latencies_s) / len(load.latencies_s) if load.latencies_s else math.nan
    return report | {"client_latency_mean_ms": mean_s * 1000, "chunks": len(load.latencies_s),
                     "real_time_factor": load.real_time_factor, "failed_streams": len(load.errors),
                     "wall_s": load.wall_s}


def server_side(before: list, after: list, cell: str) -> dict:
    """What the server's own metrics say about the keyword chunks between two scrapes."""
    labels = {"task": "keywords", "cell": cell}

    def histogram(name):
        return subtract(buckets(after, name, **labels), buckets(before, name, **labels))

    latency, compute = histogram("rnnvoice_result_latency_seconds"), histogram("rnnvoice_chunk_compute_seconds")
    report = {f"server_latency_p{q}_ms": histogram_quantile(q / 100, latency) * 1000 for q in QUANTILES}
    total = value(after, "rnnvoice_result_latency_seconds_sum", **labels) - \
        value(before, "rnnvoice_result_latency_seconds_sum", **labels)
    return report | {
        "server_chunks": latency.get(math.inf, 0),
        "server_latency_mean_ms": total / max(latency.get(math.inf, 0), 1) * 1000,
        "compute_p50_ms": histogram_quantile(0.5, compute) * 1000,
        "server_rss_bytes": value(after, "process_resident_memory_bytes"),
        "state_bytes": value(after, "rnnvoice_stream_state_bytes", **labels),
        "parameter_bytes": value(after, "rnnvoice_model_parameter_bytes", **labels),
    }


def bench(target: str, metrics_url: str | None, recording: Path, cells: list[str], streams: int, chunk_s: float,
          realtime: bool, loops: int) -> dict:
    """Runs the cells one after the other on the same server; a report of plain values."""
    audio = read_audio(recording)
    report = {"recording": str(recording), "audio_s": audio.seconds, "streams": streams, "chunk_ms": chunk_s * 1000,
              "realtime": realtime, "loops": loops, "cells": {}}
    for cell in cells:
        before = scrape(metrics_url) if metrics_url else None
        load = run_load(target, audio, cell, streams, chunk_s, realtime, loops)
        cell_report = client_side(load)
        if metrics_url:
            cell_report |= server_side(before, scrape(metrics_url), cell)
        report["cells"][cell] = cell_report
    if {"gru", "lstm"} <= set(cells):
        gru, lstm = report["cells"]["gru"], report["cells"]["lstm"]
        report["lstm_over_gru"] = {k: lstm[k] / gru[k] for k, _, _ in ROWS if k in gru and gru[k]}
    return report


def number(v: float | None, scale: float) -> str:
    if v is None:
        return "-"
    v *= scale
    return f"{v:.0f}" if float(v).is_integer() or abs(v) >= 1000 else f"{v:#.4g}"


def table(report: dict) -> str:
    cells = list(report["cells"])
    ratio = "lstm_over_gru" in report
    lines = [f"{'':28}" + "".join(f"{c.upper():>12}" for c in cells) + (f"{'LSTM/GRU':>12}" if ratio else "")]
    for key, label, scale in ROWS:
        row = [report["cells"][c].get(key) for c in cells]
        if all(v is None for v in row):
            continue
        text = "".join(f"{number(v, scale):>12}" for v in row)
        if ratio:
            r = report["lstm_over_gru"].get(key)
            text += f"{'-' if r is None else f'{r:.2f}':>12}"
        lines.append(f"{label:28}{text}")
    return "\n".join(lines)
