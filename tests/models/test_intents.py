"""The command grammar reads back exactly what the sentence generator meant."""

import random

import pytest

from rnnvoice.models.data.sentences import generate_command, vocabulary
from rnnvoice.models.nlu.intents import Intent, parse_intent
from rnnvoice.models.nlu.spoken_numbers import read_number, say_number


def test_every_generated_command_parses_to_its_intent():
    rng = random.Random(7)
    for _ in range(5000):
        text, intent = generate_command(rng)
        assert parse_intent(text) == intent, text


@pytest.mark.parametrize(
    "text, intent",
    [
        ("set a timer for five minutes", Intent("set_timer", {"duration_s": 300})),
        ("set a timer for an hour and ten minutes", Intent("set_timer", {"duration_s": 4200})),
        ("turn on the kitchen lights", Intent("lights", {"state": "on", "room": "kitchen"})),
        ("switch the lights off in the living room", Intent("lights", {"state": "off", "room": "living room"})),
        ("dial five five five one two three four", Intent("dial", {"number": "5551234"})),
        ("wake me up at seven thirty pm on friday", Intent("set_alarm", {"time": "19:30", "day": "friday"})),
        ("what's the weather in new york tomorrow", Intent("weather", {"city": "new york", "day": "tomorrow"})),
        ("please call mom", Intent("call", {"contact": "mom"})),
        ("set the volume to seven", Intent("volume", {"level": 7})),
        ("no thanks", Intent("deny")),
    ],
)
def test_examples(text, intent):
    assert parse_intent(text) == intent


@pytest.mark.parametrize("text", ["", "banana", "turn on the", "set a timer for blue minutes", "dial five"])
def test_what_the_grammar_cannot_read_is_unknown(text):
    assert parse_intent(text) == Intent("unknown")


def test_spoken_numbers_round_trip_and_vocabulary_size():
    assert all(read_number(say_number(n).split()) == n for n in range(1000))
    assert read_number(["seventy", "seventy"]) is None
    assert 200 <= len(vocabulary()) <= 400
