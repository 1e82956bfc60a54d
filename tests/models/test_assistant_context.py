"""The built-in assistant's commands as a Rhino context: it says what the sentence generator says, and means it
(`rnnvoice lm` writes the shipped file again: tests/models/test_language_model.py)."""

import random

import pytest

from rnnvoice.models.data.sentences import generate_command
from rnnvoice.models.decoding.context_search import ContextSearch
from rnnvoice.models.nlu.assistant_context import ASSISTANT_CONTEXT_FILE, assistant_slots
from rnnvoice.models.nlu.context import parse_context
from rnnvoice.models.nlu.intents import Intent, parse_intent
from rnnvoice.models.weights import WEIGHTS


@pytest.fixture(scope="module")
def search() -> ContextSearch:
    return ContextSearch(parse_context((WEIGHTS / ASSISTANT_CONTEXT_FILE).read_text()))


def read(search: ContextSearch, text: str) -> Intent | None:
    found = search.read_text(text)
    return Intent(found.intent, assistant_slots(found.intent, found.slots)) if found.understood else None


def test_every_generated_command_means_in_the_context_what_it_means_to_the_grammar(search):
    """The generator's commands (the recognisers' training text and the intent test set), read by the context,
    give the intent and typed slots the generator meant, which `parse_intent` reads from their text."""
    rng = random.Random(7)
    for _ in range(150):
        text, meaning = generate_command(rng)
        assert read(search, text) == meaning == parse_intent(text), text


@pytest.mark.parametrize(
    "text, meaning",
    [
        ("set a timer for an hour and ten minutes", Intent("set_timer", {"duration_s": 4200})),
        ("start a twenty second timer", Intent("set_timer", {"duration_s": 20})),
        ("wake me up at seven oh five pm on friday", Intent("set_alarm", {"time": "19:05", "day": "friday"})),
        ("dial five five five one two three four", Intent("dial", {"number": "5551234"})),
        (
            "could you dim the kitchen lights to thirty percent please",
            Intent("lights", {"room": "kitchen", "state": "on", "level": 30}),
        ),
        ("turn on the lights in the living room", Intent("lights", {"state": "on", "room": "living room"})),
        ("play some jazz", Intent("play_music", {"genre": "jazz"})),
        ("order a pizza", None),
    ],
)
def test_commands_read_into_typed_slots_or_not_understood(search, text, meaning):
    assert read(search, text) == meaning
