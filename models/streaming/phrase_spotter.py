"""Keywords chosen at run time by text: a decision layer that spots phrases in the recogniser's CTC posteriors.

Each phrase is a CTC path of its characters (a blank allowed between them, required between repeats) that may
start at any step; everything outside it is a filler, the best free path (the most likely token at each step).
A Viterbi pass over the states of all phrases at once keeps, per state, the best log-likelihood ratio of the
phrase's path against the filler over the same steps, and where that path began. A phrase's score is that ratio
where its last character is reached, per character, as a probability: 1 when the phrase is the recogniser's own
best path, lower the more its characters had to be forced. It fires once its score peaks above its threshold.
Phrases are whole words: a path begins only where the free path has just written a space or no letter for a
while, and does not fire if a letter follows its last one before its score has settled.

Shapes: S steps, V tokens, N states of all phrases together.
"""

from dataclasses import dataclass

import numpy as np

from rnnvoice.models.nets.speech_recognizer import BLANK, INDEX, normalise
from rnnvoice.models.streaming.keyword_detector import Detection, threshold_for

# The score that fires at sensitivity 0.5: the phrase at least half as likely, per character, as the recogniser's
# own best path. A sweep on Speech Commands words other than the evaluation's phrases (reports/phrases/dev_*.json)
# found no threshold that does better for the shipped recognisers (reports/phrases/README.md).
DEFAULT_THRESHOLD = 0.5
# A phrase fires once its score has not risen for this long, so that it is reported at its peak.
SETTLE_S = 0.09
# A phrase's path spans at most this long per character, plus the same again once.
MAX_CHAR_S = 0.25
# Steps with no letter on the free path that make a word boundary (without a space).
BOUNDARY_S = 0.09
SPACE_ID, BLANK_ID = INDEX[" "], INDEX[BLANK]


@dataclass(frozen=True)
class Phrase:
    text: str  # normalised: what the recogniser writes
    threshold: float


def phrases_for(sensitivities: dict[str, float], threshold: float) -> list[Phrase]:
    """Phrase text -> sensitivity 0..1, as phrases with thresholds."""
    return [Phrase(normalise(text), threshold_for(s, threshold)) for text, s in sensitivities.items()]


class PhraseSpotter:
    """Stateful phrase detections for one stream, fed log-probabilities (S, V) in any chunking."""

    def __init__(self, phrases: list[Phrase], step_s: float):
        self.phrases = phrases
        self.step_s = step_s
        labels, first, last, skip = [], [], [], []
        for p in phrases:
            states = [INDEX[BLANK]] * (2 * len(p.text) - 1)
            states[::2] = [INDEX[c] for c in p.text]
            first.append(len(labels))
            # Between two characters the blank may be skipped, unless they are the same character.
            skip += [i >= 2 and i % 2 == 0 and states[i] != states[i - 2] for i in range(len(states))]
            labels += states
            last.append(len(labels) - 1)
        self.labels = np.array(labels, dtype=int)
        self.first, self.last = np.array(first), np.array(last)
        self.skip = np.array(skip, dtype=bool)
        self.advance = np.ones(len(labels), dtype=bool)
        self.advance[self.first] = False  # a phrase's first state is entered from the filler, not the state before
        self.owner = np.repeat(np.arange(len(phrases)), np.diff([*first, len(labels)]))
        self.max_steps = np.array([round(MAX_CHAR_S * (len(p.text) + 1) / step_s) for p in phrases])[self.owner]
        self.chars = np.array([len(p.text) for p in phrases])
        self.thresholds = np.array([p.threshold for p in phrases])
        self.settle_steps = max(1, round(SETTLE_S / step_s))
        self.boundary_steps = max(1, round(BOUNDARY_S / step_s))
        self.last_letter = -(10**9)  # the last step whose most likely token was a letter
        self.after_space = True  # the free path's last token other than the blank was a space
        self.previous = BLANK_ID  # the free path's token at the step before
        self.score = np.full(len(labels), -np.inf)  # log-likelihood ratio of the best path ending in each state
        self.start = np.zeros(len(labels), dtype=int)  # the step at which that path began
        self.peak = [None] * len(phrases)  # a phrase above its threshold: (score, start, end step)
        self.steps = 0

    def scores(self) -> np.ndarray:
        """Each phrase's score at the last step, 0 to 1."""
        return np.exp(self.score[self.last] / self.chars)

    def accept(self, log_probs: np.ndarray) -> list[Detection]:
        detections = []
        ratios = log_probs[:, self.labels] - log_probs.max(axis=1, keepdims=True)
        for i, (ratio, token) in enumerate(zip(ratios, log_probs.argmax(axis=1))):
            step = self.steps + i
            boundary = self.after_space or step - self.last_letter > self.boundary_steps
            letter = token not in (BLANK_ID, SPACE_ID) and token != self.previous  # a repeat is one letter in CTC
            self.previous = token
            if token != BLANK_ID:
                self.after_space = token == SPACE_ID
                self.last_letter = step if letter else self.last_letter
            self._viterbi(ratio, step, boundary)
            detections += self._decide(step, continued=letter and not boundary)
        self.steps += len(log_probs)
        return detections

    def _viterbi(self, ratio: np.ndarray, step: int, boundary: bool) -> None:
        score, start = self.score.copy(), self.start.copy()  # staying in a state
        candidates = [
            (np.where(self.advance, np.roll(self.score, 1), -np.inf), np.roll(self.start, 1)),
            (np.where(self.skip, np.roll(self.score, 2), -np.inf), np.roll(self.start, 2)),
        ]
        for other, other_start in candidates:
            better = other > score
            score, start = np.where(better, other, score), np.where(better, other_start, start)
        # At a word boundary a path may begin afresh in a phrase's first state; an older one is kept on a tie.
        if boundary:
            fresh = score[self.first] < 0.0
            score[self.first[fresh]], start[self.first[fresh]] = 0.0, step
        score += ratio
        score[step - start >= self.max_steps] = -np.inf
        self.score, self.start = score, start

    def _decide(self, step: int, continued: bool) -> list[Detection]:
        """continued: this step's most likely token is a letter of the same word as the step before's."""
        detections = []
        for k, value in enumerate(self.scores()):
            peak = self.peak[k]
            if value >= self.thresholds[k] and (peak is None or value > peak[0]):
                self.peak[k] = (float(value), int(self.start[self.last[k]]), step)
            elif peak is not None and continued and step > peak[2]:
                self.peak[k] = None  # the word goes on: the phrase was only its beginning
            elif peak is not None and step - peak[2] >= self.settle_steps:
                score, first, end = peak
                detections.append(
                    Detection(
                        self.phrases[k].text,
                        round(score, 4),
                        round(first * self.step_s, 3),
                        round((end + 1) * self.step_s, 3),
                        round((step + 1) * self.step_s, 3),
                    )
                )
                self.peak[k] = None
                self.score[self.owner == k] = -np.inf  # the path that fired is spent: one utterance, one detection
        return detections
