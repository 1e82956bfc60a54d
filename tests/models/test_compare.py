"""`rnnvoice compare`: every pair of GRU and LSTM reports becomes rows of one table."""

import json

from rnnvoice.models.evaluation.compare import compare


def test_pairs_of_reports_become_rows_side_by_side(tmp_path):
    folder = tmp_path / "keywords"
    folder.mkdir()
    for cell, accuracy in (("gru", 0.9), ("lstm", 0.8)):
        report = {"clips": {"accuracy": accuracy, "per_speaker": {"a": {"accuracy": accuracy}, "b": {"accuracy": 0.5}}}}
        (folder / f"{cell}_digits.json").write_text(json.dumps(report))
    (folder / "gru_unpaired.json").write_text(json.dumps({"clips": {"accuracy": 1.0}}))
    rows = compare(tmp_path)
    assert rows[2] == "| keywords/digits | accuracy | 90.0 % | 80.0 % |"
    assert rows[3] == "| keywords/digits | per speaker accuracy | 50 to 90 % (2 speakers) | 50 to 80 % (2 speakers) |"
    assert len(rows) == 4  # the report without an LSTM twin is left out


def test_real_talk_reports_compare_their_false_accepts(tmp_path):
    for cell, per_hour in (("gru", 12.5), ("lstm", 30.0)):
        report = {"real_talk": {"false_accepts_per_hour": per_hour, "false_accepts": per_hour / 2, "per_call": {}}}
        (tmp_path / f"{cell}_real_talk.json").write_text(json.dumps(report))
    rows = compare(tmp_path)
    assert rows[2:] == [
        f"| {tmp_path.name}/real_talk | false accepts per hour of real talk | 12.5 | 30 |",
        f"| {tmp_path.name}/real_talk | false accepts | 6.25 | 15 |",
    ]


def test_training_runs_become_learning_curves(tmp_path):
    from PIL import Image

    from rnnvoice.clients.cli import main

    runs = []
    for name, offset in (("running", 0.0), ("none", 0.1)):
        history = [
            {"step": s, "loss": 2.0 - s / 100} | ({"dev_accuracy": offset + s / 100} if s % 10 == 0 else {})
            for s in range(1, 51)
        ]
        runs.append(tmp_path / f"{name}.history.json")
        runs[-1].write_text(json.dumps(history))
    plot = tmp_path / "curves.png"
    assert main(["compare", "--training", *map(str, runs), "--plot", str(plot)]) == 0
    assert Image.open(plot).size[0] > 500
