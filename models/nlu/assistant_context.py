"""The built-in assistant's commands as a context in Picovoice Rhino's YAML: one mechanism for the server's own
commands and the contexts applications declare.

`rnnvoice lm` writes `assistant_context_yaml()` to models/weights/assistant_context.yml, beside the language model
made from the same domain (`models/data/sentences.py`); the server reads commands within it when a stream declares
no context of its own. Its slot values are what the context's path says; `assistant_slots` turns them into the
built-in intents' typed slots (`duration_s`, a 24-hour `time`, a dialled `number`), as `parse_intent` gives them
from a transcript.
"""

import yaml

from rnnvoice.models.nlu.intents import CITIES, CONTACTS, DAYS, DEVICES, GENRES, ROOMS
from rnnvoice.models.nlu.spoken_numbers import read_number, say_number

__all__ = ["ASSISTANT_CONTEXT_FILE", "assistant_context_yaml", "assistant_slots"]

ASSISTANT_CONTEXT_FILE = "assistant_context.yml"
DIALLED = 10  # digits a dialled number may have, from 3
SLOTS = {
    "room": list(ROOMS),
    "device": list(DEVICES),
    "city": list(CITIES),
    "day": list(DAYS),
    "genre": list(GENRES),
    "contact": list(CONTACTS),
    "state": ["on", "off"],
    "direction": ["up", "down"],
    "hour": [say_number(n) for n in range(1, 13)],
    "noon": ["am", "pm"],
    "one": ["a", "an"],  # "an hour": one of them
    "half": ["half an hour"],
}
LIGHTS = "[light, lights]"
TIMER = "[set a timer for, start a timer for, timer for]"
ALARM = "[set an alarm for, wake me up at, set an alarm at] $hour:hour"
WHEN = "($noon:noon) (on) ($day:day)"
NUMBER = "$pv.TwoDigitInteger"
EXPRESSIONS = {
    "lights": [
        "[dim, set] the ($room:room) lights to $pv.Percent:percent",
        f"[turn, switch] $state:state the ($room:room) {LIGHTS} (in the $room:room2)",
        f"[turn, switch] the ($room:room) {LIGHTS} $state:state (in the $room:room2)",
        "($room:room) lights $state:state",
    ],
    "device": [
        "[turn, switch] $state:state the $device:device (in the $room:room)",
        "[turn, switch] the $device:device $state:state (in the $room:room)",
    ],
    "set_timer": [
        f"{TIMER} {NUMBER}:hours [hour, hours]",
        f"{TIMER} {NUMBER}:hours [hour, hours] and {NUMBER}:minutes [minute, minutes]",
        f"{TIMER} {NUMBER}:minutes [minute, minutes]",
        f"{TIMER} {NUMBER}:seconds [second, seconds]",
        f"{TIMER} $one:an_hour hour",
        f"{TIMER} $one:an_hour hour and {NUMBER}:minutes [minute, minutes]",
        f"{TIMER} $half:half",
        f"[set, start] $one:article {NUMBER}:minutes [minute, minutes] timer",
        f"[set, start] $one:article {NUMBER}:seconds [second, seconds] timer",
    ],
    "cancel_timer": ["[cancel, stop, delete] the timer"],
    "set_alarm": [
        f"{ALARM} (o'clock) {WHEN}",
        f"{ALARM} oh $pv.SingleDigitInteger:minute_oh {WHEN}",
        f"{ALARM} {NUMBER}:minute {WHEN}",
    ],
    "weather": [
        "[what's, what is] the weather (like) (on) ($day:day) (in $city:city) (on) ($day:day2)",
        "will it [rain, snow] (in $city:city) (on) ($day:day)",
        "how [cold, warm, hot] is it (in $city:city) (on) ($day:day)",
    ],
    "play_music": [
        "play (some) $genre:genre (in the $room:room)",
        "play (some) music (in the $room:room)",
    ],
    "pause_music": ["pause (the music)"],
    "next_track": ["[next song, skip this song, play the next song]"],
    "volume": [
        "turn the volume $direction:direction",
        f"set the volume to {NUMBER}:volume",
    ],
    "call": ["[call, phone] $contact:contact"],
    "dial": [
        "[dial, call] "
        + " ".join(f"$pv.SingleDigitInteger:digit{i}" for i in range(3))
        + "".join(f" ($pv.SingleDigitInteger:digit{i})" for i in range(3, DIALLED))
    ],
    "get_time": ["[what time is it, what's the time, tell me the time]"],
    "get_date": ["what's the date (today)", "what is today's date", "what day is it (today)"],
    "confirm": ["yes (please)"],
    "deny": ["no (thanks)", "no thank you"],
    "stop": ["stop"],
    "cancel": ["[cancel, never mind]"],
}
# Said alone; every other command may be asked for politely.
SHORT_ANSWERS = ("confirm", "deny", "stop", "cancel")
POLITE = "(please, could you, can you) {} (please)"


def assistant_context_yaml() -> str:
    """The built-in commands as a context file."""
    expressions = {
        intent: [text if intent in SHORT_ANSWERS else POLITE.format(text) for text in texts]
        for intent, texts in EXPRESSIONS.items()
    }
    header = "# The built-in assistant's commands (rnnvoice lm writes this file: models/nlu/assistant_context.py).\n"
    body = yaml.safe_dump({"context": {"expressions": expressions, "slots": SLOTS}}, sort_keys=False, width=1000)
    return header + body


def assistant_slots(intent: str, slots: dict[str, str]) -> dict:
    """A reading of the built-in context -> the intent's slots as `parse_intent` gives them."""
    # A slot name has one type in a whole context: the same slot under other types has other names.
    renamed = {"room2": "room", "day2": "day", "percent": "level", "volume": "level", "minute_oh": "minute"}
    slots = {renamed.get(name, name): value for name, value in slots.items() if name != "article"}
    if "level" in slots:
        slots["level"] = int(slots["level"])
        if intent == "lights":
            slots["state"] = "on"
    if intent == "set_timer":
        hours = 1 if "an_hour" in slots else int(slots.get("hours", 0))
        seconds = 3600 * hours + 60 * int(slots.get("minutes", 0)) + int(slots.get("seconds", 0))
        slots = {"duration_s": 1800 if "half" in slots else seconds}
    if intent == "set_alarm":
        hour, minute, noon = read_number([slots.pop("hour")]), int(slots.pop("minute", 0)), slots.pop("noon", None)
        slots["time"] = f"{hour % 12 + 12 * (noon == 'pm'):02d}:{minute:02d}" if noon else f"{hour}:{minute:02d}"
    if intent == "dial":
        slots = {"number": "".join(slots[f"digit{i}"] for i in range(DIALLED) if f"digit{i}" in slots)}
    return slots
