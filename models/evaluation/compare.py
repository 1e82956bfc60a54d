"""GRU beside LSTM: every report `rnnvoice eval` wrote for both cells, as one table."""

import json
from pathlib import Path

# (what, where in the report, as a percentage)
CLIP_ROWS = (("accuracy", ("clips", "accuracy"), True),)
STREAM_ROWS = (
    ("keywords detected", ("stream", "hit_rate"), True),
    ("false accepts per hour", ("stream", "false_accepts_per_hour"), False),
    ("detection latency (ms)", ("stream", "mean_latency_s"), False),
)
REAL_TALK_ROWS = (
    ("false accepts per hour of real talk", ("real_talk", "false_accepts_per_hour"), False),
    ("false accepts", ("real_talk", "false_accepts"), False),
)
TRANSCRIPTION_ROWS = (
    ("word error rate", ("transcription", "word_error_rate"), True),
    ("sentences exactly right", ("transcription", "sentence_accuracy"), True),
    ("intents exactly right", ("transcription", "intent_accuracy"), True),
    ("end of speech to final, median (ms)", ("transcription", "final_latency_median_s"), False),
    ("end of speech to final, p90 (ms)", ("transcription", "final_latency_p90_s"), False),
)
# Speed is the benchmark's to measure (`rnnvoice bench`, both cells in one run on an otherwise idle
# machine); evaluations may share the machine with other work, so their real-time factors stay in the JSON.


def _get(report: dict, path: tuple[str, ...]):
    for key in path:
        report = report.get(key) if isinstance(report, dict) else None
    return report


def _show(value, percent: bool, label: str) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * value:.1f} %"
    if "(ms)" in label:
        return f"{1000 * value:.0f}"
    return f"{value:.4g}"


def per_speaker_range(report: dict) -> str:
    per_speaker = _get(report, ("clips", "per_speaker")) or _get(report, ("transcription", "per_speaker")) or {}
    speakers = {k: v for k, v in per_speaker.items() if not k.startswith("(")}
    key = "accuracy" if "clips" in report else "word_error_rate"
    values = sorted(v[key] for v in speakers.values() if v[key] is not None)
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:.0f} % (1 speaker)"
    return f"{100 * values[0]:.0f} to {100 * values[-1]:.0f} % ({len(values)} speakers)"


def compare(folder: Path) -> list[str]:
    """Markdown rows, report by report: the measure, GRU, LSTM."""
    rows = ["| report | measure | GRU | LSTM |", "|---|---|---|---|"]
    for gru_path in sorted(Path(folder).rglob("gru_*.json")):
        lstm_path = gru_path.with_name("lstm_" + gru_path.name[4:])
        if not lstm_path.exists():
            continue
        gru, lstm = json.loads(gru_path.read_text()), json.loads(lstm_path.read_text())
        name = f"{gru_path.parent.name}/{gru_path.stem[4:]}"
        kind = (
            CLIP_ROWS
            if "clips" in gru
            else STREAM_ROWS
            if "stream" in gru
            else REAL_TALK_ROWS
            if "real_talk" in gru
            else TRANSCRIPTION_ROWS
        )
        for label, path, percent in kind:
            rows.append(
                f"| {name} | {label} | {_show(_get(gru, path), percent, label)} | "
                f"{_show(_get(lstm, path), percent, label)} |"
            )
        if "clips" in gru or "transcription" in gru:
            label = "per speaker accuracy" if "clips" in gru else "per speaker WER"
            rows.append(f"| {name} | {label} | {per_speaker_range(gru)} | {per_speaker_range(lstm)} |")
    return rows
