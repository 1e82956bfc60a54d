"""Speech to intent within a context: the best path of the recogniser's CTC posteriors through the context's word
graph, read back as an intent and its slots, or not understood.

The word graph (`nlu.context.Context`) is spelled out in characters: each arc's words become a CTC chain (a blank
before each character and one after the last; a repeated character needs its blank), with an optional space before
it where a word went before. One Viterbi pass over all chains at once; the graph's states are not emitting and are
passed through within a frame. Each state remembers where its path entered its arc, and each graph state how its
best path reached it at each frame: enough to read the path's arcs back without a backpointer per chain state and
frame. The command is understood when its path scores, per frame, within `min_score` of the recogniser's own best
path (the most likely token at each frame): a command the context cannot say scores far below it. A search may
let the command begin anywhere in its first `lead` frames (after a wake word whose end the spotter places early,
the recogniser still spells the word's last sounds there); the frames before it count as the best path's.

Shapes: T frames, V tokens, S chain states, N graph states.
"""

from dataclasses import dataclass, field

import numpy as np

from rnnvoice.models.nets.speech_recognizer import BLANK, INDEX
from rnnvoice.models.nlu.context import Context

__all__ = ["DEFAULT_MIN_SCORE", "ContextSearch", "Understanding"]

# Per frame, in nats, how far under the recogniser's own best path a command may score and still be understood.
DEFAULT_MIN_SCORE = -0.5
BLANK_ID, SPACE_ID = INDEX[BLANK], INDEX[" "]
NONE = -1


@dataclass
class Understanding:
    understood: bool
    intent: str | None
    slots: dict[str, str] = field(default_factory=dict)
    words: str = ""  # what the context's path says
    score: float = float("-inf")  # per frame, against the recogniser's own best path (0: the same)


class ContextSearch:
    """A context's graph spelled out for CTC, searched for any number of utterances."""

    def __init__(self, context: Context, min_score: float = DEFAULT_MIN_SCORE):
        self.context, self.min_score = context, min_score
        starts = set(context.intents.values())
        label, arc_of, prev1, prev2, entry, exits = [], [], [], [], [], []
        self.epsilons = []  # (source, target, arc) of arcs that say nothing
        for a, arc in enumerate(context.arcs):
            if not arc.words:
                self.epsilons.append((arc.source, arc.target, a))
                continue
            chars = [SPACE_ID] * (arc.source not in starts) + [INDEX[c] for c in " ".join(arc.words)]
            optional = 2 if arc.source not in starts else 0  # the leading space and its blank may be skipped
            first = len(label)
            for i, token in enumerate(chars):
                for is_blank in (True, False):
                    k = len(label)
                    label.append(BLANK_ID if is_blank else token)
                    prev1.append(k - 1 if k > first else NONE)
                    skip = not is_blank and i > 0 and chars[i - 1] != token
                    prev2.append(k - 2 if skip else NONE)
                    entry.append(k - first < 2 + optional)
                    exits.append(False)
                    arc_of.append(a)
            label.append(BLANK_ID)  # after the last character
            prev1.append(len(label) - 2)
            prev2.append(NONE)
            entry.append(False)
            exits.append(True)
            arc_of.append(a)
            exits[-2] = True  # the last character itself
        # Held by every stream of the context: int32 halves them (75,000 states each in a context at the limits).
        self.label = np.array(label, dtype=np.int32)
        self.arc_of = np.array(arc_of, dtype=np.int32)
        sources = np.array([context.arcs[a].source for a in arc_of], dtype=np.int32)
        targets = np.array([context.arcs[a].target for a in arc_of], dtype=np.int32)
        # Each way into a chain state, as (states, where from): from the state before, from two before (over a blank
        # between different characters), and from a graph state (entering an arc).
        self.moves = [_moves(np.array(p, dtype=np.int32)) for p in (prev1, prev2)]
        self.entries = np.flatnonzero(entry).astype(np.int32)
        self.entry_node = sources[self.entries]
        self.exit_states = np.flatnonzero(exits).astype(np.int32)
        self.exit_node = targets[self.exit_states]
        self.starts = np.array(sorted(starts), dtype=int)
        depth = _depth(context)
        self.epsilons.sort(key=lambda e: depth[e[0]])  # sources before what they lead to

    def search(self, log_probs: np.ndarray, lead: int = 0) -> Understanding:
        """(T, V) log-probabilities of one utterance -> what it means in the context; the command may begin at any
        frame up to `lead`."""
        frames = len(log_probs)
        if frames == 0:
            return Understanding(False, None)
        n, s = self.context.states, len(self.label)
        best_path = np.concatenate([[0.0], np.cumsum(log_probs.max(axis=1))])
        node = np.full(n, -np.inf)
        node[self.starts] = 0.0
        # How each graph state's best path reached it for frame t: the arc that led there, where that arc began
        # (a frame), and for an arc that says nothing, the state it came from (NONE: an arc with words).
        how = np.full((frames + 1, n, 3), NONE, dtype=np.int32)
        self._pass_through(node, how[0], 0)
        score = np.full(s, -np.inf)
        entered = np.zeros(s, dtype=np.int64)
        for t in range(frames):
            # Staying first, then each move in turn where it scores strictly better (ties keep the earlier way).
            best, came = score.copy(), entered.copy()
            for states, sources in self.moves:
                moved = score[sources] > best[states]
                better = states[moved]
                best[better], came[better] = score[sources[moved]], entered[sources[moved]]
            moved = node[self.entry_node] > best[self.entries]
            better = self.entries[moved]
            best[better], came[better] = node[self.entry_node[moved]], t
            score, entered = best + log_probs[t, self.label], came
            node = np.full(n, -np.inf)
            leaving = score[self.exit_states]
            order = np.argsort(-leaving, kind="stable")
            reached, first = np.unique(self.exit_node[order], return_index=True)
            winners = self.exit_states[order[first]]
            node[reached] = score[winners]
            how[t + 1, reached] = np.stack(
                [self.arc_of[winners], entered[winners], np.full(len(winners), NONE)], axis=1
            )
            if t + 1 <= lead:  # no arc leads to a start, so its `how` stays NONE: a path begins there
                node[self.starts] = best_path[t + 1]
            self._pass_through(node, how[t + 1], t + 1)
        final = node[self.context.final]
        if not np.isfinite(final):
            return Understanding(False, None)
        return self._read_back(how, frames, final - best_path[-1])

    def read_text(self, text: str) -> Understanding:
        """What a text means in the context: the same search over a path that writes exactly it (a command's
        reference meaning from its words, or a transcript read by the context)."""
        tokens = [INDEX[c] for c in " ".join(text.lower().split()) if c in INDEX]
        path = [BLANK_ID] + [t for token in tokens for t in (token, BLANK_ID)]
        log_probs = np.full((len(path), len(INDEX)), -1e4)
        log_probs[np.arange(len(path)), path] = 0.0
        return self.search(log_probs)

    def _pass_through(self, node: np.ndarray, how: np.ndarray, t: int) -> None:
        for source, target, arc in self.epsilons:
            if node[source] > node[target]:
                node[target] = node[source]
                how[target] = (arc, t, source)

    def _read_back(self, how: np.ndarray, frames: int, below_best: float) -> Understanding:
        arcs, state, t = [], self.context.final, frames
        while how[t, state, 0] != NONE:
            arc, began, came_from = how[t, state]
            arcs.append(self.context.arcs[arc])
            state, t = (came_from, t) if came_from != NONE else (self.context.arcs[arc].source, began)
        arcs.reverse()
        score = below_best / max(1, frames - t)  # per frame of the command, from the frame its path began
        intent = next(name for name, start in self.context.intents.items() if start == state)
        slots = {a.slot[0]: a.slot[1] for a in arcs if a.slot}
        words = " ".join(w for a in arcs for w in a.words)
        understood = bool(score >= self.min_score)
        return Understanding(understood, intent if understood else None, slots if understood else {}, words, score)


def _moves(previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,) each state's state before it on one kind of move (NONE: none) -> the states that have one, and it."""
    states = np.flatnonzero(previous >= 0).astype(np.int32)
    return states, previous[states]


def _depth(context: Context) -> dict[int, int]:
    """Each graph state's distance from its intent's start: an order in which epsilon arcs pass scores on."""
    depth = dict.fromkeys(context.intents.values(), 0)
    pending = True
    while pending:
        pending = False
        for arc in context.arcs:
            if arc.source in depth and depth.get(arc.target, -1) < depth[arc.source] + 1:
                depth[arc.target] = depth[arc.source] + 1
                pending = True
    return depth
