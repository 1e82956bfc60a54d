"""The keyword vocabulary: the wake word, ten commands, ten digits, silence and unknown speech."""

WAKE_WORD = "computer"
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
KEYWORDS = (WAKE_WORD, *COMMANDS, *DIGITS)

SILENCE = "_silence_"
UNKNOWN = "_unknown_"
# Class order of the keyword models' output layer.
LABELS = (SILENCE, UNKNOWN, *KEYWORDS)

# Real words of Speech Commands that no recogniser trains on: keywords chosen at run time are measured on them.
UNTRAINED_WORDS = ("marvin", "sheila", "happy", "house")


def digit_word(digit: str) -> str:
    """Maps an FSDD file's digit ("7") to its keyword ("seven")."""
    return DIGITS[int(digit)]
