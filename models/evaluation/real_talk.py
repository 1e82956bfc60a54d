"""False accepts per hour on real continuous speech: the WUW calls through the serving code path.

Each call (one caller's ten utterances, joined as one telephone stream at its own 8 kHz) runs through a keyword
stream as the server would run it. A detection is a false accept unless its keyword is a word of the transcript of
the utterance it falls in (callers say "on", "up", "computer" in their sentences: those are hits).
"""

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
from tqdm import tqdm

from rnnvoice.models.data.wuw import WUW_RATE, CallUtterance, load_call
from rnnvoice.models.evaluation.keywords import run_stream
from rnnvoice.models.nets.keyword_spotter import KeywordSpotter
from rnnvoice.models.streaming.keyword_stream import keyword_stream

__all__ = ["RealTalkReport", "real_talk_report"]


@dataclass
class RealTalkReport:
    calls: int
    utterances: int
    audio_s: float
    false_accepts: int
    false_accepts_per_hour: float
    false_accept_words: dict[str, int]  # keyword -> false accepts
    said: int  # keywords of ours said in the calls' sentences
    said_detected: int
    said_per_keyword: dict[str, dict]  # keyword -> said, detected
    per_call: dict[str, dict]  # call -> false accepts, audio seconds


def _call_stream(utterances: list[CallUtterance]) -> tuple[torch.Tensor, list[float]]:
    """One call's utterances joined (T,), and where each begins, in seconds."""
    waves = [load_call(u.path) for u in utterances]
    starts = torch.cumsum(torch.tensor([0] + [len(w) for w in waves[:-1]]), 0) / WUW_RATE
    return torch.cat(waves), starts.tolist()


def real_talk_report(model: KeywordSpotter, utterances: list[CallUtterance], progress: bool = True) -> RealTalkReport:
    keywords = set(model.config.keywords)
    calls: dict[str, list[CallUtterance]] = defaultdict(list)
    for u in sorted(utterances, key=lambda u: (u.call, u.utterance)):
        calls[u.call].append(u)
    false_accepts, said, heard, per_call, audio_s = Counter(), Counter(), Counter(), {}, 0.0
    for call, parts in tqdm(calls.items(), desc="calls", unit="call", disable=not progress):
        wave, starts = _call_stream(parts)
        detections, _ = run_stream(keyword_stream(model, WUW_RATE), wave)
        by_utterance = defaultdict(list)
        for d in detections:
            by_utterance[max(0, bisect.bisect_right(starts, d.end_s) - 1)].append(d.keyword)
        wrong = 0
        for i, u in enumerate(parts):
            spoken = keywords & set(u.words)
            said.update(spoken)
            heard.update(spoken & set(by_utterance[i]))
            for k in by_utterance[i]:
                if k not in spoken:
                    false_accepts[k] += 1
                    wrong += 1
        seconds = len(wave) / WUW_RATE
        audio_s += seconds
        per_call[call] = {"false_accepts": wrong, "audio_s": round(seconds, 2)}
    total = sum(false_accepts.values())
    return RealTalkReport(
        calls=len(calls),
        utterances=len(utterances),
        audio_s=round(audio_s, 1),
        false_accepts=total,
        false_accepts_per_hour=round(total / max(audio_s, 1e-9) * 3600, 2),
        false_accept_words=dict(false_accepts.most_common()),
        said=sum(said.values()),
        said_detected=sum(heard.values()),
        said_per_keyword={k: {"said": n, "detected": heard[k]} for k, n in sorted(said.items())},
        per_call=per_call,
    )
