"""Voice-assistant commands with their meaning: the recognizer's training text and the intent test set."""

import random

from rnnvoice.models.nlu.intents import CITIES, CONTACTS, DAYS, DEVICES, GENRES, ROOMS, Intent
from rnnvoice.models.nlu.spoken_numbers import ONES, say_number


def _duration(rng: random.Random) -> tuple[str, int]:
    kind = rng.random()
    if kind < 0.45:
        n = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 45, 50, 90])
        return ("one minute" if n == 1 else f"{say_number(n)} minutes"), 60 * n
    if kind < 0.6:
        n = rng.choice([10, 15, 20, 30, 40, 45, 50, 60, 90])
        return f"{say_number(n)} seconds", n
    if kind < 0.75:
        h = rng.randint(1, 3)
        return ("an hour" if h == 1 and rng.random() < 0.5 else f"{say_number(h)} hour{'s' * (h > 1)}"), 3600 * h
    if kind < 0.9:
        h, m = rng.randint(1, 2), rng.choice([5, 10, 15, 20, 30, 45])
        return f"{say_number(h)} hour{'s' * (h > 1)} and {say_number(m)} minutes", 3600 * h + 60 * m
    return "half an hour", 1800


def _clock(rng: random.Random) -> tuple[str, str]:
    hour = rng.randint(1, 12)
    minute = rng.choice([0, 0, 5, 10, 15, 20, 30, 30, 40, 45, 50])
    said = say_number(hour) + (
        rng.choice([" o'clock", ""])
        if minute == 0
        else " oh " + say_number(minute)
        if minute < 10
        else " " + say_number(minute)
    )
    suffix = rng.choice([None, None, "am", "pm"])
    if suffix:
        said = said.removesuffix(" o'clock") + " " + suffix
        return said, f"{hour % 12 + (12 if suffix == 'pm' else 0):02d}:{minute:02d}"
    return said, f"{hour}:{minute:02d}"


def _digits(rng: random.Random, low: int = 3, high: int = 7) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(low, high)))


def say_digits(digits: str) -> str:
    return " ".join(ONES[int(d)] for d in digits)


def _lights(rng):
    room, state = rng.choice((None, *ROOMS)), rng.choice(("on", "off"))
    slots = {"state": state} | ({"room": room} if room else {})
    where = f"{room} " if room else ""
    if rng.random() < 0.2:
        level = rng.choice([10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90])
        return (
            "lights",
            f"dim the {where}lights to {say_number(level)} percent",
            {**slots, "state": "on", "level": level},
        )
    text = rng.choice(
        [f"turn {state} the {where}lights", f"switch {state} the {where}lights", f"turn the {where}lights {state}"]
        + ([f"turn {state} the lights in the {room}", f"{room} lights {state}"] if room else [])
    )
    return "lights", text, slots


def _device(rng):
    device, state, room = rng.choice(DEVICES), rng.choice(("on", "off")), rng.choice((None, None, *ROOMS))
    where = f" in the {room}" if room else ""
    text = rng.choice([f"turn {state} the {device}{where}", f"switch the {device} {state}{where}"])
    return "device", text, {"state": state, "device": device} | ({"room": room} if room else {})


def _timer(rng):
    said, seconds = _duration(rng)
    forms = [f"set a timer for {said}", f"start a timer for {said}", f"timer for {said}"]
    if said.endswith(("minutes", "seconds")) and " and " not in said:
        forms.append(f"set a {said[:-1]} timer")
    return "set_timer", rng.choice(forms), {"duration_s": seconds}


def _alarm(rng):
    said, clock = _clock(rng)
    day = rng.choice((None, None, *DAYS[:2], *DAYS[3:10]))
    when = f" {rng.choice(['', 'on '])}{day}" if day in DAYS[3:10] else (f" {day}" if day else "")
    text = rng.choice([f"set an alarm for {said}", f"wake me up at {said}"]) + when
    return "set_alarm", text, {"time": clock} | ({"day": day} if day else {})


def _weather(rng):
    city, day = rng.choice((None, *CITIES)), rng.choice((None, *DAYS))
    in_city = f" in {city}" if city else ""
    on_day = f" {day}" if day else ""
    text = rng.choice(
        [
            f"what's the weather{on_day}{in_city}",
            f"what is the weather like{in_city}{on_day}",
            f"will it rain{in_city}{on_day}",
            f"how cold is it{in_city}{on_day}",
        ]
    )
    return "weather", text, ({"city": city} if city else {}) | ({"day": day} if day else {})


def _music(rng):
    kind = rng.random()
    if kind < 0.45:
        genre, room = rng.choice((None, *GENRES)), rng.choice((None, None, *ROOMS))
        where = f" in the {room}" if room else ""
        text = f"play some {genre}{where}" if genre else f"play some music{where}"
        return "play_music", text, ({"genre": genre} if genre else {}) | ({"room": room} if room else {})
    if kind < 0.6:
        return "pause_music", rng.choice(["pause the music", "pause"]), {}
    if kind < 0.75:
        return "next_track", rng.choice(["next song", "skip this song", "play the next song"]), {}
    if kind < 0.88:
        direction = rng.choice(("up", "down"))
        return "volume", f"turn the volume {direction}", {"direction": direction}
    level = rng.randint(1, 10)
    return "volume", f"set the volume to {say_number(level)}", {"level": level}


def _call(rng):
    contact = rng.choice(CONTACTS)
    return "call", f"{rng.choice(['call', 'phone'])} {contact}", {"contact": contact}


def _dial(rng):
    digits = _digits(rng)
    return "dial", f"{rng.choice(['dial', 'call'])} {say_digits(digits)}", {"number": digits}


def _simple(rng):
    name, text = rng.choice(
        [
            ("get_time", rng.choice(["what time is it", "what's the time", "tell me the time"])),
            ("get_date", rng.choice(["what's the date today", "what is today's date", "what day is it"])),
            ("confirm", rng.choice(["yes", "yes please"])),
            ("deny", rng.choice(["no", "no thanks"])),
            ("stop", "stop"),
            ("cancel", rng.choice(["cancel", "never mind"])),
            ("cancel_timer", rng.choice(["cancel the timer", "stop the timer"])),
        ]
    )
    return name, text, {}


# How often each kind of command comes up.
GENERATORS = (
    (0.16, _lights),
    (0.10, _device),
    (0.12, _timer),
    (0.10, _alarm),
    (0.12, _weather),
    (0.12, _music),
    (0.06, _call),
    (0.10, _dial),
    (0.12, _simple),
)
SHORT_ANSWERS = ("confirm", "deny", "stop", "cancel")


def generate_command(rng: random.Random) -> tuple[str, Intent]:
    """One command a person might say to a voice assistant, and what it means."""
    weights, generators = zip(*GENERATORS)
    name, text, slots = rng.choices(generators, weights)[0](rng)
    if name not in SHORT_ANSWERS and rng.random() < 0.12:
        text = rng.choice(["please {}", "{} please", "could you {}", "can you {}"]).format(text)
    return text, Intent(name, slots)


def vocabulary() -> set[str]:
    """Every word the generator can say (for the decoder's lexicon)."""
    rng, words = random.Random(0), set()
    for _ in range(20000):
        words.update(generate_command(rng)[0].split())
    return words
