"""A context: what a device can be told, declared in Picovoice Rhino's YAML and compiled to a word graph.

    context:
      expressions:
        setTimer:
          - "(please) set [a, the] timer for $pv.TwoDigitInteger:minutes minutes"
      slots:
        room: ["kitchen", "living room"]

An expression is words, `[a, b c]` (one of them), `(a, b)` (one of them or nothing) and `$type:name` (a slot: one
of its type's values, given to the command as `name`). Types are the context's `slots` or built-in numbers
(`BUILT_IN_SLOTS`). The graph is built without enumerating sentences, and within fixed budgets: a context that
exceeds one, or is not well formed, is a `ContextError` naming its line. YAML anchors and aliases are refused.
"""

import re
from dataclasses import dataclass, field

import yaml

from rnnvoice.models.nlu.spoken_numbers import say_number

__all__ = ["BUILT_IN_SLOTS", "Arc", "Context", "ContextError", "parse_context"]

# Limits on what a client may send: the YAML text, its intents, expressions and slot values, and the graph.
MAX_CONTEXT_CHARS = 64_000
MAX_EXPRESSIONS = 500
MAX_SLOT_VALUES = 2_000
MAX_WORDS = (
    5_000  # words on the compiled graph's arcs: a search costs about 0.2 s of CPU per second of a command at this size
)
# Letters and spaces spelled out on the graph's arcs, which the search's states and time follow: words alone do not
# bound them (ten slot values of 5,000 letters said in 400 expressions spelled 20 million, 1.6 GB and 46 s to compile).
MAX_CHARACTERS = 40_000
ORDINALS = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
BUILT_IN_SLOTS = {
    "pv.SingleDigitInteger": {say_number(n): str(n) for n in range(10)},
    "pv.TwoDigitInteger": {say_number(n): str(n) for n in range(100)},
    "pv.SingleDigitOrdinal": {ORDINALS[n]: str(n) for n in range(1, 10)},
    "pv.TwoDigitOrdinal": {ORDINALS[n]: str(n) for n in range(1, 20)},
    "pv.Percent": {f"{say_number(n)} percent": str(n) for n in range(101) if n < 100} | {"one hundred percent": "100"},
}
# libyaml's parser where PyYAML was built with it: a context at the size limits compiled in 0.42 s instead of 0.99.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
TOKEN = re.compile(r"\[[^\]]*\]|\([^)]*\)|\$[A-Za-z0-9_.]+:[A-Za-z0-9_]+|[^\s\[\]()$]+|\S")


class ContextError(ValueError):
    """A context that is not well formed or too large: the message says where and what to change."""


@dataclass(frozen=True, slots=True)  # thousands of them in a large context
class Arc:
    """An edge of the word graph: `words` spoken (empty: nothing), and for a slot value its (name, value)."""

    source: int
    target: int
    words: tuple[str, ...]
    slot: tuple[str, str] | None = None


@dataclass
class Context:
    """The compiled graph: states 0..states-1; each intent's expressions run from its start state to `final`."""

    intents: dict[str, int]  # intent -> its start state
    final: int
    arcs: list[Arc] = field(default_factory=list)
    states: int = 0
    slot_types: dict[str, str] = field(default_factory=dict)  # slot name -> type

    @property
    def words(self) -> int:
        return sum(len(a.words) for a in self.arcs)

    @property
    def characters(self) -> int:
        """Letters and spaces spelled out on the arcs: each word and the space before it."""
        return sum(len(w) + 1 for a in self.arcs for w in a.words)


def parse_context(text: str) -> Context:
    """Rhino's context YAML -> the compiled `Context`; ContextError naming the line of what is wrong."""
    if len(text) > MAX_CONTEXT_CHARS:
        raise ContextError(f"the context has {len(text)} characters; at most {MAX_CONTEXT_CHARS}")
    try:
        for event in yaml.parse(text, Loader=LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ContextError(f"line {event.start_mark.line + 1}: YAML anchors and aliases are not accepted")
        root = yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ContextError(f"{where}not valid YAML ({getattr(e, 'problem', None) or e})") from None
    context = _mapping(root, "the file")
    body_node = _field(context, "context", root)
    body = _mapping(body_node, "context")
    expressions = _mapping(_field(body, "expressions", body_node), "context.expressions")
    slots = _mapping(body["slots"], "context.slots") if "slots" in body else {}
    values = {name: _slot_values(node, name) for name, node in slots.items()}
    return _Compiler(values).compile(expressions)


def _line(node) -> str:
    return f"line {node.start_mark.line + 1}"


def _mapping(node, what: str) -> dict:
    if not isinstance(node, yaml.MappingNode):
        raise ContextError(f"{_line(node) if node else 'the file'}: {what} must be a mapping")
    out = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise ContextError(f"{_line(key)}: {what} has a key that is not a name")
        out[key.value] = value
    return out


def _field(mapping: dict, name: str, parent):
    if name not in mapping:
        raise ContextError(f"{_line(parent)}: `{name}:` is missing")
    return mapping[name]


def _strings(node, what: str) -> list[tuple[str, yaml.Node]]:
    if not isinstance(node, yaml.SequenceNode) or not all(isinstance(n, yaml.ScalarNode) for n in node.value):
        raise ContextError(f"{_line(node)}: {what} must be a list of strings")
    return [(n.value, n) for n in node.value]


def _slot_values(node, name: str) -> dict[str, str]:
    """A slot type's values: spoken words -> the value given to the command (the words as written)."""
    values = {}
    for text, item in _strings(node, f"slot {name!r}"):
        words = _words(text, item)
        if not words:
            raise ContextError(f"{_line(item)}: slot {name!r} has an empty value")
        values[" ".join(words)] = text.strip()
    if len(values) > MAX_SLOT_VALUES:
        raise ContextError(f"{_line(node)}: slot {name!r} has {len(values)} values; at most {MAX_SLOT_VALUES}")
    return values


def _words(text: str, node) -> list[str]:
    lowered = text.lower()
    stray = re.sub(r"[a-z'\s-]", "", lowered)
    if stray:
        raise ContextError(f"{_line(node)}: {text!r} has characters that are not words ({stray[:10]!r})")
    return WORD.findall(lowered.replace("-", " "))


class _Compiler:
    """Expressions -> one word graph, state by state; a choice or an optional part becomes parallel arcs."""

    def __init__(self, slot_values: dict[str, dict[str, str]]):
        self.slot_values = slot_values
        self.context = Context(intents={}, final=0)
        self.context.final = self._state()
        self.words = 0
        self.characters = 0

    def _state(self) -> int:
        self.context.states += 1
        return self.context.states - 1

    def _arc(self, source: int, target: int, words: tuple[str, ...], slot=None, node=None) -> None:
        self.context.arcs.append(Arc(source, target, words, slot))
        self.words += len(words)
        self.characters += sum(len(w) + 1 for w in words)  # each word and the space before it
        if self.words > MAX_WORDS:
            raise ContextError(f"{_line(node)}: the context compiles to over {MAX_WORDS} words; make it smaller")
        if self.characters > MAX_CHARACTERS:
            raise ContextError(
                f"{_line(node)}: the context compiles to over {MAX_CHARACTERS} characters of words; make it smaller"
            )

    def compile(self, expressions: dict) -> Context:
        count = 0
        for intent, node in expressions.items():
            start = self.context.intents[intent] = self._state()
            for text, item in _strings(node, f"intent {intent!r}"):
                count += 1
                if count > MAX_EXPRESSIONS:
                    raise ContextError(f"{_line(item)}: more than {MAX_EXPRESSIONS} expressions")
                self._expression(text, item, start)
        if not self.context.intents:
            raise ContextError("the context has no intents under context.expressions")
        return self.context

    def _expression(self, text: str, node, start: int) -> None:
        tokens = TOKEN.findall(text.strip())
        if not tokens:
            raise ContextError(f"{_line(node)}: an empty expression")
        state, slot_names = start, set()
        for i, token in enumerate(tokens):
            target = self.context.final if i == len(tokens) - 1 else self._state()
            if token[0] in "[(":
                if token[-1] not in "])" or "[" in token[1:-1] or "(" in token[1:-1]:
                    raise ContextError(f"{_line(node)}: {token!r} in {text!r} is not a choice [a, b] or option (a)")
                choices = [TOKEN.findall(c.strip()) for c in token[1:-1].split(",")]
                if not all(choices):
                    raise ContextError(f"{_line(node)}: {token!r} in {text!r} has an empty choice")
                for choice in choices:  # a slot named in two choices is one slot: only one of them is said
                    self._chain(choice, state, target, node, text, set(slot_names), slot_names)
                if token[0] == "(":
                    self._arc(state, target, (), None, node)
            else:
                self._chain([token], state, target, node, text, slot_names, slot_names)
            state = target

    def _chain(self, tokens: list[str], start: int, end: int, node, text: str, seen: set, named: set) -> None:
        """Words and slots one after another, from start to end; seen: slot names before them in the expression."""
        state = start
        for i, token in enumerate(tokens):
            target = end if i == len(tokens) - 1 else self._state()
            if token.startswith("$"):
                kind, colon, name = token[1:].partition(":")
                if not (kind and colon and name) or ":" in name:
                    raise ContextError(f"{_line(node)}: {token!r} in {text!r} is not a slot $type:name")
                if name in seen:
                    raise ContextError(f"{_line(node)}: slot {name!r} appears twice in {text!r}")
                seen.add(name)
                named.add(name)
                values = self.slot_values.get(kind, BUILT_IN_SLOTS.get(kind))
                if values is None:
                    raise ContextError(f"{_line(node)}: {text!r} uses slot type {kind!r}, which is not defined")
                known = self.context.slot_types.setdefault(name, kind)
                if known != kind:
                    raise ContextError(f"{_line(node)}: slot {name!r} is of type {known!r} elsewhere, not {kind!r}")
                for spoken, value in values.items():
                    self._arc(state, target, tuple(spoken.split()), (name, value), node)
            else:
                words = _words(token, node)
                if not words:
                    raise ContextError(f"{_line(node)}: {token!r} in {text!r} is not a word")
                self._arc(state, target, tuple(words), None, node)
            state = target
