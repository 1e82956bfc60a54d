"""WUW Corpus II's calls: read in its own layout (8 kHz mu-law, transcripts.tsv), split by call, cut into training
talk, and false accepts per hour on them through `rnnvoice eval`."""

import json

import pytest
import soundfile

from rnnvoice.clients.cli import main
from rnnvoice.models.data.corpus import TALK_SOURCE, read_manifest
from rnnvoice.models.data.wuw import PIECE_S, WUW_RATE, CallSplit, read_calls, talk_pieces
from rnnvoice.models.vocabulary import KEYWORDS
from tests.conftest import fixture_clip

HEADER = "file\tcall\tutterance\tgender\tdialect\tphone\tkeyword_start_s\tkeyword_end_s\ttranscript\n"
CALLS = [f"{n:05d}" for n in range(12)]


def _write_call(folder, call: str, utterance: str, clip: str, transcript: str, keyword_at: float) -> None:
    path = folder / "calls" / call / f"WUWII{call}_{utterance}.ulaw"
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = fixture_clip(clip, WUW_RATE)
    soundfile.write(path, audio, WUW_RATE, format="RAW", subtype="ULAW")
    with open(folder / "transcripts.tsv", "a") as f:
        row = [str(path.relative_to(folder)), call, utterance, "male", "native", "landlinephone"]
        f.write("\t".join([*row, str(keyword_at), str(keyword_at + 0.3), transcript]) + "\n")


@pytest.fixture(scope="module")
def wuw_folder(tmp_path_factory):
    """Twelve calls in WUW Corpus II's layout. Each has a real "yes" in a sentence: in the even calls the transcript
    names it, in the odd ones the same audio has a transcript that does not. Then a sentence ending in an untrained
    wake-up word (Wildfire)."""
    folder = tmp_path_factory.mktemp("wuw")
    (folder / "transcripts.tsv").write_text(HEADER)
    for n, call in enumerate(CALLS):
        said = "{breath} I say yes to Operator" if n % 2 == 0 else "[click] uh Operator"
        _write_call(folder, call, "006", "yes_sc.wav", said, 0.6)
        _write_call(folder, call, "009", "call_mom_norbert.wav", "call mom Wildfire", 0.5)
    return folder


def test_calls_are_split_whole_and_the_same_every_time(wuw_folder):
    utterances = read_calls(wuw_folder)
    splits = {}
    for u in utterances:
        assert splits.setdefault(u.call, u.split) == u.split  # one split a call
    assert sorted(splits) == CALLS
    assert [len([c for c, s in splits.items() if s == split]) for split in CallSplit] == [6, 3, 3]
    assert read_calls(wuw_folder) == utterances
    dev = read_calls(wuw_folder, CallSplit.DEV)
    assert len(dev) == 6 and {u.split for u in dev} == {CallSplit.DEV}


def test_transcripts_become_words_without_their_marks(wuw_folder):
    first = read_calls(wuw_folder)[0]
    assert first.words == ("i", "say", "yes", "to", "operator") and first.keyword == "operator"


def test_training_talk_leaves_out_our_keywords_and_the_untrained_words(wuw_folder):
    said, unsaid = ({u.utterance: u for u in read_calls(wuw_folder) if u.call == c} for c in CALLS[:2])
    assert talk_pieces(said["006"], 16000, KEYWORDS) == []  # its transcript says "yes"
    (talk,) = talk_pieces(unsaid["006"], 16000, KEYWORDS)
    assert len(talk) == pytest.approx(len(fixture_clip("yes_sc.wav", 16000)), abs=16)
    # Before Wildfire only: the untrained word itself never reaches training.
    (before,) = talk_pieces(said["009"], 16000, KEYWORDS)
    assert len(before) == int(0.5 * 16000)
    assert all(len(p) <= PIECE_S * 1000 for p in talk_pieces(unsaid["006"], 1000, ()))


def test_a_corpus_takes_the_training_calls_talk_only(wuw_folder, tmp_path, real_folders):
    corpus = tmp_path / "kws"
    args = ["data", "--out", str(corpus), "--fsdd", str(real_folders / "fsdd"), "--calls", str(wuw_folder)]
    assert main([*args, "--keyword-takes", "1", "--unknown-takes", "0", "--phrase-takes", "0"]) == 0
    talk = [c for c in read_manifest(corpus) if c.source == TALK_SOURCE]
    train = read_calls(wuw_folder, CallSplit.TRAIN)
    unsaid = [u for u in train if u.utterance == "006" and "yes" not in u.words]
    # A piece of each training call's sentence that names no keyword of ours, and the talk before Wildfire; the
    # development and test calls stay out.
    assert len(talk) == len(unsaid) + len(train) // 2 and {c.speaker for c in talk} == {f"call{u.call}" for u in train}
    assert {c.label for c in talk} == {"_unknown_"} and {c.split for c in talk} == {"train"}


def test_eval_counts_false_accepts_on_real_talk_and_spares_keywords_said(wuw_folder, tmp_path, capsys):
    report_path = tmp_path / "talk.json"
    args = ["eval", "--cell", "gru", "--data", str(wuw_folder), "--calls", "all", "--json", str(report_path)]
    assert main(args) == 0
    talk = json.loads(report_path.read_text())["real_talk"]
    assert talk["calls"] == 12 and talk["utterances"] == 24
    # The same "yes" in six calls whose transcripts say it (hits) and six whose transcripts do not (false accepts).
    assert talk["said"] == 6 and talk["said_detected"] >= 3
    assert talk["said_per_keyword"] == {"yes": {"said": 6, "detected": talk["said_detected"]}}
    assert talk["false_accept_words"].get("yes", 0) == talk["said_detected"]
    assert talk["false_accepts_per_hour"] == pytest.approx(talk["false_accepts"] / talk["audio_s"] * 3600, rel=0.01)
    assert "false accepts" in capsys.readouterr().out


def test_a_transcription_corpus_takes_the_training_calls_sentences_and_holds_out_the_other_calls(wuw_folder, tmp_path):
    """Each training call's sentences join train/ with their words, a sentence ending in Wildfire cut where the word
    begins and the word taken from its transcript; the development and test calls' sentences are held out whole."""
    from rnnvoice.models.data.transcription_corpus import call_sentences, write_transcripts

    parts = call_sentences(wuw_folder, tmp_path)
    by_split = {split: {u.call for u in read_calls(wuw_folder, split)} for split in CallSplit}
    assert {r.speaker for r in parts["train"]} == by_split[CallSplit.TRAIN]
    assert {r.speaker for r in parts["heldout/wuw_dev"]} == by_split[CallSplit.DEV]
    assert {r.speaker for r in parts["heldout/wuw_test"]} == by_split[CallSplit.TEST]
    assert "wildfire" not in " ".join(r.text for r in parts["train"])
    assert {r.text for r in parts["train"]} == {"i say yes to operator", "uh operator", "call mom"}
    assert {r.text for r in parts["heldout/wuw_dev"]} >= {"call mom wildfire"}
    cut = next(r for r in parts["train"] if r.text == "call mom")
    audio, rate = soundfile.read(cut.path)
    assert rate == 16000 and len(audio) == int(0.5 * 16000)
    whole = next(r for r in parts["heldout/wuw_dev"] if r.text == "call mom wildfire")
    assert len(soundfile.read(whole.path)[0]) == pytest.approx(len(fixture_clip("call_mom_norbert.wav", 16000)), abs=32)
    write_transcripts(tmp_path / "train", parts["train"])  # readable as any corpus part
