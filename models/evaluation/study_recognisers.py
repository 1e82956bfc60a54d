"""The study's recognisers: word error rate on the transcription corpus's held-out real speakers against the share
of the real training speakers, for each cell, with the spread over seeds. Scored through the streaming code path
as `make reports` scores the shipped recognisers, and cached per run as the keyword runs' accuracies are."""

from collections import defaultdict

from tqdm import tqdm

from rnnvoice.models.data.transcription_corpus import TRANSCRIPTS, Recording, read_transcripts
from rnnvoice.models.evaluation.study_runs import (
    Run,
    Scoring,
    StudyConfig,
    StudyError,
    cached_scores,
    mean_std,
    percent,
    shape_networks,
    spread,
)
from rnnvoice.models.evaluation.transcription import transcribe_all, word_error_rate
from rnnvoice.models.nets.recurrent import RecurrentModel
from rnnvoice.models.types import Decoder

__all__ = ["RECOGNISER_SETS", "recogniser_rows", "recogniser_table"]

# Held-out real speech of the transcription corpus (its folder, decoder and name in the tables), decoded as `make
# reports` decodes it: the served beam search over the command domain's lexicon for words and digit strings, and
# greedily for the test calls' free telephone talk, most of whose words that lexicon does not hold.
RECOGNISER_SETS = {
    "sc_words": ("heldout/speech_commands", Decoder.BEAM, "SC words"),
    "sc_digits": ("heldout/speech_commands_digits", Decoder.BEAM, "SC digit strings"),
    "fsdd_digits": ("heldout/fsdd", Decoder.BEAM, "FSDD digit strings"),
    "calls": ("heldout/wuw_test", Decoder.GREEDY, "test calls"),
}


def recogniser_scoring(config: StudyConfig) -> Scoring:
    """Word error rate on each held-out set (config.limit recordings of each, spread over it)."""
    corpus = config.transcription_corpus
    sets = None
    if corpus.is_dir():
        sets = {
            name: spread(read_transcripts(corpus / folder), config.limit)
            if (corpus / folder / TRANSCRIPTS).exists()
            else []
            for name, (folder, _, _) in RECOGNISER_SETS.items()
        }

    def wer(model: RecurrentModel, name: str, recordings: list[Recording]) -> float:
        hypotheses = transcribe_all(model, recordings, decoder=RECOGNISER_SETS[name][1])
        return word_error_rate([r.text for r in recordings], hypotheses)

    missing = f"no transcription corpus at {corpus} (--transcription-corpus)"
    return Scoring(corpus, sets, missing, "word_error_rate", wer)


def _last_evaluation(history: list[dict]) -> float | None:
    """The word error rate of training's own last evaluation (on its held-out voices, calls and digits)."""
    return next((h["heldout_wer"] for h in reversed(history) if "heldout_wer" in h), None)


def recogniser_rows(runs: list[Run], config: StudyConfig) -> list[dict]:
    """A row per (front end, cell, width, share of the real training speakers): each held-out set's word error rate
    with its spread over seeds, and every run's own numbers."""
    scoring = recogniser_scoring(config)
    groups = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.key, r.settings["seed"] or 0)):
        groups[run.key].append(run)
    networks = shape_networks(runs)  # for the parameter count
    rows, sizes = [], []
    for key, group in tqdm(groups.items(), desc="recognisers", unit="group", disable=not groups):
        records = []
        for run in group:
            wer, size = cached_scores(run, False, scoring, config)
            sizes += [size] if size not in sizes else []
            records.append(
                {
                    "run": run.name,
                    "seed": run.settings["seed"],
                    "steps": run.history[-1]["step"],
                    **{f"{name}_wer": wer[name] for name in RECOGNISER_SETS},
                    "last_evaluation_wer": _last_evaluation(run.history),
                    "train_wall_s": run.history[-1]["elapsed_s"],
                    "converged_step": run.settings["converged_step"],
                }
            )
        measures = [*(f"{name}_wer" for name in RECOGNISER_SETS), "last_evaluation_wer", "steps", "train_wall_s"]
        rows.append(
            {
                "front_end": key[0],
                "cell": key[1],
                "width": key[2],
                "data_fraction": key[3],
                "int8": False,  # recognisers are measured in float32 only
                "params": networks[key[:3]][0].parameter_count if key[:3] in networks else None,
                "seeds": [r["seed"] for r in records],
                **{k: v for name in measures for k, v in mean_std(name, records).items()},
                "recordings": size,
                "runs": records,
            }
        )
    if len(sizes) > 1:
        raise StudyError(
            f"the recognisers' cached word error rates were measured on held-out sets of different sizes "
            f"({sizes[0]}, {sizes[1]}): give the transcription corpus (--transcription-corpus) to measure them again"
        )
    return rows


def recogniser_table(rows: list[dict]) -> str:
    """The recognisers' word error rates against the share of the real training speakers, as Markdown."""
    names = [title for _, _, title in RECOGNISER_SETS.values()]
    table = [
        "| cell | width | params | real training speakers | seeds | "
        + " | ".join(f"{n} WER" for n in names)
        + " | steps | training (min) |",
        "|---" * (7 + len(names)) + "|",
    ]
    for row in rows:
        params = "-" if row["params"] is None else f"{row['params']:,}"
        table.append(
            f"| {row['cell'].upper()} | {row['width']} | {params} | {100 * row['data_fraction']:g}% | "
            f"{len(row['seeds'])} | "
            + " | ".join(percent(row, f"{name}_wer") for name in RECOGNISER_SETS)
            + f" | {row['steps_mean']:,.0f} | {row['train_wall_s_mean'] / 60:.1f} ± "
            f"{row['train_wall_s_std'] / 60:.1f} |"
        )
    return "\n".join(table)
