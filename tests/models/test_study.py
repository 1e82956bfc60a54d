"""`rnnvoice compare --study` on tiny keyword runs trained here, on both front ends: its rows, its cache (the
accuracy tables from it alone, without the corpus or the checkpoints), int8 and the multiply-adds."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnvoice.clients.cli import main
from rnnvoice.models.audio.features import FeatureConfig
from rnnvoice.models.data.corpus import load_clip
from rnnvoice.models.data.transcription_corpus import read_transcripts
from rnnvoice.models.evaluation.costs import multiply_adds_per_audio_s, quantized
from rnnvoice.models.evaluation.keywords import run_stream
from rnnvoice.models.evaluation.study_recognisers import RECOGNISER_SETS
from rnnvoice.models.evaluation.transcription import transcribe_all, word_error_rate
from rnnvoice.models.nets.checkpoint import load_model
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.nets.recurrent import ModelConfig
from rnnvoice.models.streaming.keyword_stream import keyword_stream
from rnnvoice.models.training.train import TrainConfig, train
from rnnvoice.models.types import Decoder, Task
from tests.conftest import FIXTURES

# The fields of every row, and the ones added beside them.
ROW_FIELDS = {
    "cell",
    "width",
    "params",
    "state_bytes",
    "seeds",
    "sc_accuracy_mean",
    "sc_accuracy_std",
    "fsdd_accuracy_mean",
    "fsdd_accuracy_std",
    "cpu_ms_per_audio_s",
    "batched_cpu_ms_per_audio_s",
    "int8",
    "data_fraction",
    "weight_bytes",
    "multiply_adds_per_audio_s",
    "train_wall_s_mean",
    "steps_to_accuracy_mean",
    "reached_accuracy",
    "runs",
    "front_end",
    "steps_mean",
    "converged_step_mean",
    "best_dev_accuracy_mean",
    "front_end_cpu_ms_per_audio_s",
    "batched_front_end_cpu_ms_per_audio_s",
}
# Small and quick: four streams batched, two alone, two batch sizes.
QUICK = [
    "--streams",
    "4",
    "--unbatched-streams",
    "2",
    "--repeats",
    "2",
    "--batch-sizes",
    "1,8",
    "--accuracy",
    "0",
    "--server-streams",
    "0",
    "--server-unbatched-streams",
    "0",
]


@pytest.fixture(scope="module")
def study_runs(keyword_corpus, tmp_path_factory):
    """8-wide one-layer models of a few steps: on log-mels, GRU over two seeds, LSTM over one, and a GRU on half
    the real speakers; on the speech embedding, a GRU trained to convergence (patience) from a stream cache."""
    folder = tmp_path_factory.mktemp("study")
    embedding = {
        "front_end": "speech_embedding",
        "stream_cache": str(folder / "streams.pt"),
        "cached_streams": 3,
        "steps": 6,
        "eval_every": 1,
        "patience": 1,
    }
    for name, cell, seed, fraction, recipe in (
        ("gru_w8_s0", "gru", 0, 1.0, {}),
        ("gru_w8_s1", "gru", 1, 1.0, {}),
        ("lstm_w8_s0", "lstm", 0, 1.0, {}),
        ("gru_w8_s0_f50", "gru", 0, 0.5, {}),
        ("emb_gru_w8_s0", "gru", 0, 1.0, embedding),
    ):
        settings = {"hidden_size": 8, "num_layers": 1, "steps": 2, "batch_size": 2, "seconds": 2.0, "eval_every": 2}
        train(
            TrainConfig(
                corpus=str(keyword_corpus),
                out=str(folder / f"{name}.pt"),
                cell=cell,
                seed=seed,
                real_fraction=fraction,
                **settings | recipe,
            )
        )
    (folder / "streams.pt").unlink()
    return folder


def _study(folder, corpus, out, *extra) -> dict:
    assert main(["compare", "--study", str(folder), "--json", str(out), "--corpus", str(corpus), *QUICK, *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_study_writes_a_row_per_cell_width_data_share_and_precision(study_runs, keyword_corpus, tmp_path):
    document = _study(study_runs, keyword_corpus, tmp_path / "study.json", "--plots", str(tmp_path / "plots"))
    rows = {(r["front_end"], r["cell"], r["width"], r["data_fraction"], r["int8"]): r for r in document["rows"]}
    # int8 is measured on the full-data runs; the run on half the speakers is a learning-curve row.
    assert set(rows) == {
        ("log_mels", "gru", 8, 1.0, False),
        ("log_mels", "gru", 8, 1.0, True),
        ("log_mels", "lstm", 8, 1.0, False),
        ("log_mels", "lstm", 8, 1.0, True),
        ("log_mels", "gru", 8, 0.5, False),
        ("speech_embedding", "gru", 8, 1.0, False),
        ("speech_embedding", "gru", 8, 1.0, True),
    }
    rows = {key[1:]: row for key, row in rows.items() if key[0] == "log_mels"} | {
        ("emb", *key[1:]): row for key, row in rows.items() if key[0] == "speech_embedding"
    }
    for row in rows.values():
        assert ROW_FIELDS <= set(row)
        assert row["cpu_ms_per_audio_s"] > 0 and row["batched_cpu_ms_per_audio_s"] > 0
        assert 0 <= row["fsdd_accuracy_mean"] <= 1
    gru, lstm = rows["gru", 8, 1.0, False], rows["lstm", 8, 1.0, False]
    assert gru["seeds"] == [0, 1] and [r["run"] for r in gru["runs"]] == ["gru_w8_s0", "gru_w8_s1"]
    assert gru["params"] == load_model(study_runs / "gru_w8_s0.pt").parameter_count
    assert (gru["state_bytes"], lstm["state_bytes"]) == (8 * 4, 2 * 8 * 4)  # h; h and c, float32
    # The first evaluation (step 2) reached the threshold of 0, on every seed.
    assert gru["steps_to_accuracy_mean"] == 2 and gru["reached_accuracy"] == 2
    # The run's own numbers redraw the row: its mean is theirs.
    assert gru["fsdd_accuracy_mean"] == pytest.approx(np.mean([r["fsdd_accuracy"] for r in gru["runs"]]), abs=1e-4)
    int8 = rows["gru", 8, 1.0, True]
    assert int8["params"] == gru["params"] and int8["weight_bytes"] != gru["weight_bytes"]
    assert {(t["cell"], t["int8"], t["batch"]) for t in document["throughput"]} == {
        (c, q, b) for c in ("gru", "lstm") for q in (False, True) for b in (1, 8)
    }
    assert all(t["steps_per_cpu_s"] > 0 for t in document["throughput"])
    # Trained to convergence: the step of its best development accuracy, its front end's own cost apart.
    emb = rows["emb", "gru", 8, 1.0, False]
    (run,) = emb["runs"]
    history = json.loads((study_runs / "emb_gru_w8_s0.history.json").read_text())
    accuracies = [h["dev_accuracy"] for h in history]
    assert run["converged_step"] == emb["converged_step_mean"] == history[accuracies.index(max(accuracies))]["step"]
    assert run["steps"] == history[-1]["step"] < 6 and run["best_dev_accuracy"] == max(accuracies)
    assert gru["converged_step_mean"] is None  # a fixed schedule
    for row in (gru, emb):
        assert 0 < row["batched_front_end_cpu_ms_per_audio_s"] < row["batched_cpu_ms_per_audio_s"]
    assert emb["front_end_cpu_ms_per_audio_s"] > 2 * gru["front_end_cpu_ms_per_audio_s"]  # the embedding's cost
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        f"{name}_{front_end}.png"
        for name in ("accuracy_vs_params", "cpu_vs_width", "learning_curve", "steps_to_converge")
        for front_end in ("log_mels", "speech_embedding")
        if (name, front_end) not in (("learning_curve", "speech_embedding"), ("steps_to_converge", "log_mels"))
    ] + ["throughput_vs_batch.png"]
    tables = (tmp_path / "study.md").read_text()
    assert "### Log-mels" in tables and "### Speech embedding" in tables
    assert "| GRU | 8 | yes |" in tables and "| GRU | 8 | 50% | 1 |" in tables


@pytest.mark.slow
def test_study_measures_each_cell_and_width_on_a_server_of_its_own(study_runs, keyword_corpus, tmp_path):
    """Batched and --no-batching servers of each (cell, width), loaded as the bench loads one: their CPU goes to
    the float rows of that shape (the learning-curve run's too), None to int8's (the server serves float)."""
    document = _study(
        study_runs,
        keyword_corpus,
        tmp_path / "study.json",
        "--plots",
        str(tmp_path / "plots"),
        "--server-streams",
        "3",
        "--server-unbatched-streams",
        "2",
        "--server-level-s",
        "1",
    )
    assert document["settings"]["server_streams"] == 3
    for row in document["rows"]:
        for key in ("server_cpu", "server_batched_cpu"):
            if row["int8"]:
                assert row[f"{key}_ms_per_audio_s"] is None
                continue
            assert 0 < row[f"{key}_ms_per_audio_s"] < 1000 and row[f"{key}_ms_per_audio_s_std"] >= 0
            assert row[f"{key}_failed_streams"] == 0 and 0 < row[f"{key}_p99_chunk_latency_ms"] < 1000
    full, half = (
        next(r for r in document["rows"] if (r["cell"], r["data_fraction"], r["int8"]) == ("gru", f, False))
        for f in (1.0, 0.5)
    )
    assert half["server_batched_cpu_ms_per_audio_s"] == full["server_batched_cpu_ms_per_audio_s"]
    grid = next(part for part in (tmp_path / "study.md").read_text().split("\n\n") if part.startswith("| cell"))
    grid = grid.strip().splitlines()
    assert "| GRU | 8 | no |" in grid[2] and len({line.count("|") for line in grid}) == 1  # a cell for every column
    assert (tmp_path / "plots" / "cpu_vs_width_log_mels.png").stat().st_size > 10_000


@pytest.mark.slow
def test_evaluations_are_cached_until_checkpoint_or_settings_change(study_runs, keyword_corpus, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(study_runs, folder, ignore=shutil.ignore_patterns("evaluations"))
    _study(folder, keyword_corpus, tmp_path / "first.json")
    cached = folder / "evaluations" / "lstm_w8_s0.json"
    saved = json.loads(cached.read_text())
    saved["accuracy"]["fsdd"] = 0.123  # no model scores this on the tiny held-out set: only the cache can
    cached.write_text(json.dumps(saved))

    def lstm_fsdd(document: dict) -> float:
        return next(r for r in document["rows"] if r["cell"] == "lstm" and not r["int8"])["fsdd_accuracy_mean"]

    assert lstm_fsdd(_study(folder, keyword_corpus, tmp_path / "again.json")) == 0.123
    assert lstm_fsdd(_study(folder, keyword_corpus, tmp_path / "fewer.json", "--limit", "1")) != 0.123
    _study(folder, keyword_corpus, tmp_path / "cached.json")  # back to every clip, cached afresh
    shutil.copy(folder / "gru_w8_s1.pt", folder / "lstm_w8_s0.pt")  # a new checkpoint under the same name
    shutil.copy(folder / "gru_w8_s1.history.json", folder / "lstm_w8_s0.history.json")
    again = _study(folder, keyword_corpus, tmp_path / "new.json")
    assert not any(r["cell"] == "lstm" for r in again["rows"])  # the file is a GRU now, and measured as one
    assert json.loads(cached.read_text())["key"]["checkpoint_sha256"] != saved["key"]["checkpoint_sha256"]


@pytest.mark.slow
def test_cached_accuracies_need_neither_the_corpus_nor_the_checkpoints(study_runs, keyword_corpus, tmp_path, capsys):
    """A fresh clone: the histories, the cache and MANIFEST.sha256 committed, the corpus not built and the
    checkpoints not kept. The accuracy rows come back the same from the cache; sizes and CPU, engine and server,
    from networks of the cached configs (the same sizes); left out where a cache predates its config."""
    folder, corpus = tmp_path / "runs", tmp_path / "kws"
    shutil.copytree(study_runs, folder, ignore=shutil.ignore_patterns("evaluations"))
    shutil.copytree(keyword_corpus, corpus)
    first = _study(folder, corpus, tmp_path / "first.json")
    listed = (folder / "MANIFEST.sha256").read_text().splitlines()
    assert sorted(line.split()[1] for line in listed) == sorted(p.name for p in study_runs.glob("*.pt"))
    shutil.rmtree(corpus)
    for checkpoint in folder.glob("*.pt"):
        checkpoint.unlink()
    capsys.readouterr()
    served = ["--server-streams", "2", "--server-level-s", "1"]
    again = _study(folder, corpus, tmp_path / "again.json", *served)
    assert "5 runs have no checkpoint" in (out := capsys.readouterr().out) and "`make study` retrains" in out
    assert again["without_checkpoint"] == ["emb_gru_w8_s0", "gru_w8_s0", "gru_w8_s0_f50", "gru_w8_s1", "lstm_w8_s0"]
    assert again["settings"]["heldout_clips"] == first["settings"]["heldout_clips"]
    accuracy = [
        "front_end",
        "converged_step_mean",
        "cell",
        "width",
        "data_fraction",
        "int8",
        "seeds",
        "sc_accuracy_mean",
        "sc_accuracy_std",
        "fsdd_accuracy_mean",
        "fsdd_accuracy_std",
        "train_wall_s_mean",
        "steps_to_accuracy_mean",
        "reached_accuracy",
        "runs",
    ]
    assert [{k: r[k] for k in accuracy} for r in again["rows"]] == [{k: r[k] for k in accuracy} for r in first["rows"]]
    sizes = ["params", "weight_bytes", "state_bytes", "multiply_adds_per_audio_s"]
    assert [{k: r[k] for k in sizes} for r in again["rows"]] == [{k: r[k] for k in sizes} for r in first["rows"]]
    assert {r["costs_from"] for r in first["rows"]} == {"checkpoint"}
    assert {r["costs_from"] for r in again["rows"]} == {"initialised"}
    assert all(r["cpu_ms_per_audio_s"] > 0 and r["batched_front_end_cpu_ms_per_audio_s"] > 0 for r in again["rows"])
    assert all(r["server_batched_cpu_ms_per_audio_s"] > 0 for r in again["rows"] if not r["int8"])
    assert {(t["cell"], t["int8"], t["batch"]) for t in again["throughput"]} == {
        (t["cell"], t["int8"], t["batch"]) for t in first["throughput"]
    }
    tables = (tmp_path / "again.md").read_text()
    assert "5 runs have no checkpoint" in tables and "freshly initialised" in tables
    # A run cached before its config was kept: its shape goes without sizes and CPU.
    for cached in (folder / "evaluations").glob("lstm_w8_s0*.json"):
        cached.write_text(json.dumps({k: v for k, v in json.loads(cached.read_text()).items() if k != "model"}))
    older = _study(folder, corpus, tmp_path / "older.json")
    assert all((r["params"] is None) == (r["cell"] == "lstm") for r in older["rows"])
    assert "| LSTM | 8 | no | - | - | - | - | 1 |" in (tmp_path / "older.md").read_text()
    # A run the cache does not answer for: with its checkpoint, it needs the corpus; without, a retraining.
    shutil.copy(study_runs / "lstm_w8_s0.pt", folder / "lstm_w8_s0.pt")
    (folder / "evaluations" / "lstm_w8_s0.int8.json").unlink()
    assert (
        main(["compare", "--study", str(folder), "--json", str(tmp_path / "s.json"), "--corpus", str(corpus), *QUICK])
        == 2
    )
    assert (
        f"lstm_w8_s0 in int8: no cached accuracy for these settings, and no corpus to measure it on: no corpus "
        f"manifest at {corpus / 'manifest.jsonl'}" in capsys.readouterr().err
    )
    (folder / "lstm_w8_s0.pt").unlink()
    (folder / "evaluations" / "lstm_w8_s0.json").unlink()
    assert main(["compare", "--study", str(folder), "--json", str(tmp_path / "s.json"), "--corpus", str(corpus)]) == 2
    assert "lstm_w8_s0: no checkpoint at" in (err := capsys.readouterr().err) and "`make study` retrains it" in err


@pytest.mark.slow
def test_no_cpu_gives_the_same_accuracies_and_sizes_without_a_cpu_figure(study_runs, keyword_corpus, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(study_runs, folder)
    full = _study(folder, keyword_corpus, tmp_path / "full.json")
    quick = _study(folder, keyword_corpus, tmp_path / "quick.json", "--no-cpu")
    cpu = {k for k in ROW_FIELDS if "cpu_ms" in k}
    assert all(r[k] is not None for r in full["rows"] for k in cpu) and full["throughput"]
    assert all(r[k] is None for r in quick["rows"] for k in cpu | {f"{k}_std" for k in cpu})
    assert quick["throughput"] == [] and quick["settings"]["cpu"] is False
    kept = ROW_FIELDS - cpu
    assert [{k: r[k] for k in kept} for r in quick["rows"]] == [{k: r[k] for k in kept} for r in full["rows"]]
    assert all(r["params"] and r["state_bytes"] for r in quick["rows"])


@pytest.fixture(scope="module")
def recogniser_runs(real_folders, tmp_path_factory):
    """A tiny transcription corpus (one of two FSDD speakers and the Speech Commands speaker held out) and
    16-wide recognisers of the shipped recipe, a few steps each: GRU on all and on half of the real speakers, LSTM
    on all."""
    root = tmp_path_factory.mktemp("recognisers")
    corpus, folder = root / "asr", root / "runs"
    args = ["data", "--task", "transcription", "--out", str(corpus), "--fsdd", str(real_folders / "fsdd")]
    args += ["--speech-commands", str(real_folders / "sc"), "--noise", str(real_folders / "noise")]
    args += ["--sentences", "3", "--digit-strings", "3", "--voices", "flite-slt,flite-awb"]
    assert main([*args, "--heldout-fraction", "0.5"]) == 0
    for cell, fraction in (("gru", 1.0), ("gru", 0.5), ("lstm", 1.0)):
        config = TrainConfig.for_task(
            Task.TRANSCRIPTION,
            corpus=str(corpus),
            out=str(folder / f"asr_{cell}_w16_s0_f{100 * fraction:g}.pt"),
            cell=cell,
            real_fraction=fraction,
            stream_cache=str(root / f"streams_{fraction}.pt"),
            **{"hidden_size": 16, "num_layers": 1, "steps": 2, "eval_every": 2, "batch_size": 2},
            **{"seconds": 4.0, "cached_streams": 4},
        )
        train(config)
    return corpus, folder


@pytest.mark.slow
def test_recognisers_word_errors_by_share_of_the_real_speakers(recogniser_runs, tmp_path, capsys):
    """A row per cell and share of the real speakers, each held-out set's word error rate as the streaming
    recogniser and its decoder score it, cached: the rows come back the same without corpus and checkpoints."""
    built, runs = recogniser_runs
    folder, corpus = tmp_path / "runs", tmp_path / "asr"
    shutil.copytree(runs, folder)
    shutil.copytree(built, corpus)
    study_args = ["--transcription-corpus", str(corpus), "--plots", str(tmp_path / "plots")]
    document = _study(folder, tmp_path / "no_keyword_corpus", tmp_path / "study.json", *study_args)
    assert document["rows"] == [] and document["throughput"] == []
    rows = {(r["cell"], r["data_fraction"]): r for r in document["recognisers"]}
    assert set(rows) == {("gru", 1.0), ("gru", 0.5), ("lstm", 1.0)}
    gru = rows["gru", 1.0]
    assert gru["params"] == load_model(runs / "asr_gru_w16_s0_f100.pt").parameter_count
    assert gru["params"] < rows["lstm", 1.0]["params"] and gru["seeds"] == [0] and gru["steps_mean"] == 2
    # The held-out sets this corpus has: FSDD digit strings (the held-out FSDD speaker) and the Speech Commands
    # speaker's word; no calls.
    held_out = {
        name: read_transcripts(corpus / folder_)
        for name, (folder_, _, _) in RECOGNISER_SETS.items()
        if (corpus / folder_ / "transcripts.tsv").exists()
    }
    assert {"fsdd_digits", "sc_words"} <= set(held_out) and "calls" not in held_out
    assert gru["recordings"] == {name: len(held_out.get(name, [])) for name in RECOGNISER_SETS}
    assert gru["calls_wer_mean"] is None
    recordings = held_out["fsdd_digits"]
    hypotheses = transcribe_all(load_model(runs / "asr_gru_w16_s0_f100.pt"), recordings, decoder=Decoder.BEAM)
    expected = word_error_rate([r.text for r in recordings], hypotheses)
    assert gru["fsdd_digits_wer_mean"] == gru["runs"][0]["fsdd_digits_wer"] == expected > 0  # 2 steps: no recogniser
    history = json.loads((runs / "asr_gru_w16_s0_f100.history.json").read_text())
    assert gru["runs"][0]["last_evaluation_wer"] == history[-1]["heldout_wer"]
    tables = (tmp_path / "study.md").read_text()
    assert "### Recognisers" in tables and "| GRU | 16 |" in tables and "| 50% | 1 |" in tables
    assert (tmp_path / "plots" / "learning_curve_recognisers.png").stat().st_size > 10_000
    # A fresh clone: no corpus, no checkpoints; the same rows from the cache, sizes from the cached configs.
    for checkpoint in folder.glob("*.pt"):
        checkpoint.unlink()
    shutil.rmtree(corpus)
    again = _study(
        folder, tmp_path / "no_keyword_corpus", tmp_path / "again.json", "--transcription-corpus", str(corpus)
    )
    assert again["recognisers"] == document["recognisers"]
    # A run not cached needs the corpus to be measured.
    (folder / "evaluations" / "asr_lstm_w16_s0_f100.json").unlink()
    shutil.copy(runs / "asr_lstm_w16_s0_f100.pt", folder)
    capsys.readouterr()
    args = ["compare", "--study", str(folder), "--json", str(tmp_path / "s.json"), *QUICK]
    assert main([*args, "--transcription-corpus", str(corpus)]) == 2
    assert f"no transcription corpus at {corpus} (--transcription-corpus)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_in_progress_is_left_out(study_runs, keyword_corpus, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("gru_w8_s0.pt", "gru_w8_s0.history.json", "lstm_w8_s0.pt"):  # the LSTM has no history yet
        shutil.copy(study_runs / name, folder / name)
    # Retrained over its committed history: the checkpoint so far, then the .resume.pt training writes after it.
    for name in ("gru_w8_s1.history.json", "gru_w8_s1.pt"):
        shutil.copy(study_runs / name, folder / name)
    shutil.copy(study_runs / "gru_w8_s1.pt", folder / "gru_w8_s1.resume.pt")
    document = _study(folder, keyword_corpus, tmp_path / "study.json")
    assert {r["cell"] for r in document["rows"]} == {"gru"}
    assert [run["run"] for row in document["rows"] for run in row["runs"]] == ["gru_w8_s0", "gru_w8_s0"]


@pytest.mark.slow
def test_study_usage_errors_say_what_to_fix(study_runs, keyword_corpus, tmp_path, capsys):
    def refused(*args: str, runs: Path = study_runs, corpus: Path = keyword_corpus) -> str:
        """What `compare --study` says on stderr, having exited with the usage status."""
        study = ["compare", "--study", str(runs), "--json", str(tmp_path / "s.json"), "--corpus", str(corpus)]
        assert main([*study, *args]) == 2
        return capsys.readouterr().err

    assert main(["compare", "--study", str(study_runs)]) == 2
    assert "--study needs --json" in capsys.readouterr().err
    assert "no finished runs" in refused(runs=tmp_path)
    assert "no corpus manifest" in refused(corpus=tmp_path)
    assert "--batch-sizes: give whole numbers" in refused("--batch-sizes", "1,many")
    assert "--repeats: give whole numbers" in refused("--repeats", "0")
    assert "--server-streams and --server-unbatched-streams: 0 or more" in refused("--server-streams", "-1")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_int8_model_streams_close_to_float(cell):
    """Dynamic int8 on the cell and the head, through the engine's streaming path, against the float model."""
    torch.manual_seed(0)
    running = FeatureConfig(normalization="running", log_floor=1e-12, relative_floor=1e-6)
    model = KeywordSpotter(ModelConfig(cell=cell, hidden_size=64, features=running)).eval()
    int8 = quantized(model)
    dynamic = torch.ao.nn.quantized.dynamic
    assert isinstance(int8.rnn, dynamic.GRU if cell == "gru" else dynamic.LSTM)
    assert isinstance(int8.head, dynamic.Linear)
    assert type(int8.project[0]) is torch.nn.Linear  # the projection stays float
    wave = load_clip(FIXTURES / "spoken_seven_yes.wav")
    _, floats = run_stream(keyword_stream(model, 16000), wave)
    _, ints = run_stream(keyword_stream(int8, 16000), wave)
    assert floats.shape == ints.shape and np.abs(floats - ints).max() < 0.02


def test_multiply_adds_match_a_hand_count():
    """Per 30 ms step (33.3 a second) of 120 stacked log-mels: projection 120 x 8, two layers of 3 (GRU) or 4
    (LSTM) gates of 8 x 8 on the input and 8 x 8 on the state, head 8 x 24 (23 labels and speech)."""
    gru = KeywordSpotter(ModelConfig(cell="gru", hidden_size=8, num_layers=2))
    lstm = KeywordSpotter(ModelConfig(cell="lstm", hidden_size=8, num_layers=2))
    assert multiply_adds_per_audio_s(gru) == pytest.approx((120 * 8 + 2 * 3 * (64 + 64) + 8 * 24) * 100 / 3)
    assert multiply_adds_per_audio_s(lstm) == pytest.approx((120 * 8 + 2 * 4 * (64 + 64) + 8 * 24) * 100 / 3)
    # The same as one multiply-add per weight (not bias) per step.
    for model in (gru, lstm):
        weights = sum(p.numel() for name, p in model.named_parameters() if "weight" in name)
        assert multiply_adds_per_audio_s(model) == pytest.approx(weights * model.config.features.step_rate)
