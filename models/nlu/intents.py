"""What a voice-assistant command means: an intent with slots, read from its transcript by a small grammar."""

import re
from dataclasses import dataclass, field

from rnnvoice.models.nlu.spoken_numbers import ONES, read_number

ROOMS = (
    "kitchen",
    "bedroom",
    "living room",
    "bathroom",
    "office",
    "hallway",
    "garage",
    "dining room",
    "garden",
    "basement",
    "kids room",
    "study",
)
DEVICES = (
    "fan",
    "television",
    "heater",
    "radio",
    "coffee machine",
    "air conditioner",
    "dishwasher",
    "washing machine",
    "lamp",
    "speaker",
    "printer",
    "kettle",
    "projector",
    "dehumidifier",
    "sprinklers",
)
CITIES = (
    "london",
    "paris",
    "berlin",
    "tokyo",
    "new york",
    "madrid",
    "rome",
    "boston",
    "chicago",
    "sydney",
    "dublin",
    "seattle",
    "toronto",
    "amsterdam",
    "vienna",
    "denver",
    "austin",
    "lisbon",
    "oslo",
    "prague",
    "miami",
    "dallas",
    "atlanta",
    "phoenix",
    "houston",
    "montreal",
    "vancouver",
    "mexico city",
    "cairo",
    "mumbai",
    "delhi",
    "singapore",
    "hong kong",
    "shanghai",
    "seoul",
    "moscow",
    "warsaw",
    "helsinki",
    "stockholm",
    "copenhagen",
    "brussels",
    "zurich",
    "munich",
    "barcelona",
    "athens",
)
DAYS = (
    "today",
    "tomorrow",
    "tonight",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "this weekend",
)
GENRES = (
    "jazz",
    "rock",
    "classical music",
    "pop music",
    "relaxing music",
    "hip hop",
    "country music",
    "the blues",
    "reggae",
    "dance music",
    "folk music",
    "soul music",
    "heavy metal",
    "piano music",
    "christmas songs",
)
CONTACTS = (
    "mom",
    "dad",
    "john",
    "sarah",
    "alex",
    "emma",
    "david",
    "lisa",
    "michael",
    "anna",
    "grandma",
    "the office",
    "peter",
    "maria",
    "james",
    "robert",
    "jennifer",
    "william",
    "elizabeth",
    "thomas",
    "sophia",
    "daniel",
    "olivia",
    "grandpa",
    "my sister",
    "my brother",
    "the doctor",
    "the school",
    "kevin",
    "rachel",
)


@dataclass(frozen=True)
class Intent:
    name: str
    slots: dict = field(default_factory=dict)


def _any(words) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


NUMBER = r"(?:[a-z]+(?: [a-z]+){0,4}?)"
DIGIT = _any(ONES[:10])
ROOM, DEVICE, CITY, DAY, GENRE, CONTACT = map(_any, (ROOMS, DEVICES, CITIES, DAYS, GENRES, CONTACTS))
STATE = "(?:on|off)"


def _duration_s(text: str) -> int | None:
    """'five minutes', 'an hour and ten minutes', 'half an hour', 'ninety seconds' -> seconds."""
    if text == "half an hour":
        return 1800
    total = 0
    for part in text.split(" and "):
        m = re.fullmatch(r"(an?|[a-z ]+?) (hour|minute|second)s?", part)
        if not m:
            return None
        n = 1 if m.group(1) in ("a", "an") else read_number(m.group(1).split())
        if n is None:
            return None
        total += n * {"hour": 3600, "minute": 60, "second": 1}[m.group(2)]
    return total


def _clock(text: str) -> str | None:
    """'seven thirty pm' -> '19:30', 'six oh five' -> '6:05'; without am or pm, the hour as said."""
    words = text.split()
    suffix = words.pop() if words and words[-1] in ("am", "pm") else None
    if not words:
        return None
    hour, rest = read_number(words[:1]), words[1:]
    if rest in ([], ["o'clock"]):
        minute = 0
    elif rest[0] == "oh" and len(rest) == 2:
        minute = read_number(rest[1:])
        minute = minute if minute is not None and minute < 10 else None
    else:
        minute = read_number(rest)
    if hour is None or minute is None or not 1 <= hour <= 12 or not 0 <= minute < 60:
        return None
    if suffix:
        return f"{hour % 12 + (12 if suffix == 'pm' else 0):02d}:{minute:02d}"
    return f"{hour}:{minute:02d}"


# (intent, pattern); the first pattern that matches the whole transcript wins.
PATTERNS = [
    ("lights", rf"(?:dim|set) the (?:(?P<room>{ROOM}) )?lights to (?P<level>{NUMBER}) percent"),
    ("lights", rf"(?:turn|switch) (?P<state>{STATE}) the (?:(?P<room>{ROOM}) )?lights?(?: in the (?P<room2>{ROOM}))?"),
    ("lights", rf"(?:turn|switch) the (?:(?P<room>{ROOM}) )?lights? (?P<state>{STATE})(?: in the (?P<room2>{ROOM}))?"),
    ("lights", rf"(?:(?P<room>{ROOM}) )?lights (?P<state>{STATE})"),
    ("device", rf"(?:turn|switch) (?P<state>{STATE}) the (?P<device>{DEVICE})(?: in the (?P<room>{ROOM}))?"),
    ("device", rf"(?:turn|switch) the (?P<device>{DEVICE}) (?P<state>{STATE})(?: in the (?P<room>{ROOM}))?"),
    ("set_timer", r"(?:set a timer for|timer for|start a timer for) (?P<duration>[a-z ]+)"),
    ("set_timer", r"(?:set|start) an? (?P<duration>[a-z ]+?) timer"),
    ("cancel_timer", r"(?:cancel|stop|delete) the timer"),
    (
        "set_alarm",
        rf"(?:set an alarm for|wake me up at|set an alarm at) (?P<time>[a-z' ]+?)(?: (?:on )?(?P<day>{DAY}))?",
    ),
    (
        "weather",
        rf"(?:what's|what is) the weather(?: like)?(?: (?:on )?(?P<day>{DAY}))?"
        rf"(?: in (?P<city>{CITY}))?(?: (?:on )?(?P<day2>{DAY}))?",
    ),
    ("weather", rf"will it (?:rain|snow)(?: in (?P<city>{CITY}))?(?: (?:on )?(?P<day>{DAY}))?"),
    ("weather", rf"how (?:cold|warm|hot) is it(?: in (?P<city>{CITY}))?(?: (?:on )?(?P<day>{DAY}))?"),
    ("play_music", rf"play(?: some)? (?P<genre>{GENRE})(?: in the (?P<room>{ROOM}))?"),
    ("play_music", rf"play (?:some )?music(?: in the (?P<room>{ROOM}))?"),
    ("pause_music", r"pause(?: the music)?"),
    ("next_track", r"(?:next song|skip this song|play the next song)"),
    ("volume", r"turn the volume (?P<direction>up|down)"),
    ("volume", rf"set the volume to (?P<level>{NUMBER})"),
    ("call", rf"(?:call|phone) (?P<contact>{CONTACT})"),
    ("dial", rf"(?:dial|call) (?P<number>{DIGIT}(?: {DIGIT}){{2,}})"),
    ("get_time", r"(?:what time is it|what's the time|tell me the time)"),
    ("get_date", r"(?:what's the date(?: today)?|what is today's date|what day is it(?: today)?)"),
    ("confirm", r"yes(?: please)?"),
    ("deny", r"no(?: thanks| thank you)?"),
    ("stop", r"stop"),
    ("cancel", r"(?:cancel|never mind)"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in PATTERNS]


def _slots(name: str, groups: dict) -> dict | None:
    slots = {}
    for key, value in groups.items():
        if value is not None:
            slots[key.rstrip("2")] = value
    if "level" in slots:
        level = read_number(slots["level"].split())
        if level is None:
            return None
        slots["level"] = level
    if "duration" in slots:
        seconds = _duration_s(slots.pop("duration"))
        if seconds is None:
            return None
        slots["duration_s"] = seconds
    if "time" in slots:
        clock = _clock(slots["time"])
        if clock is None:
            return None
        slots["time"] = clock
    if "number" in slots:
        slots["number"] = "".join(str(ONES.index(d)) for d in slots["number"].split())
    if name == "lights" and "level" in slots:
        slots["state"] = "on"
    return slots


def parse_intent(text: str) -> Intent:
    """The intent of a transcript, or Intent('unknown') if no pattern reads it."""
    text = " ".join(text.lower().split())
    text = re.sub(r"^(?:please |could you |can you )|(?: please)$", "", text)
    for name, pattern in COMPILED:
        m = pattern.fullmatch(text)
        if m:
            slots = _slots(name, m.groupdict())
            if slots is not None:
                return Intent(name, slots)
    return Intent("unknown")
