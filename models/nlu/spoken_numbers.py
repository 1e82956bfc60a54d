"""Numbers as people say them, both ways: 75 <-> "seventy five"."""

ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
WORD_VALUES = {w: i for i, w in enumerate(ONES)} | {w: 10 * i for i, w in enumerate(TENS) if w}


def say_number(n: int) -> str:
    """0 to 999 in words."""
    if not 0 <= n < 1000:
        raise ValueError(f"{n} is outside 0 to 999")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    rest = n % 100
    return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + say_number(rest))


def read_number(words: list[str]) -> int | None:
    """The value of a whole spoken number ("one hundred and five" -> 105), or None if it is not one."""
    value = 0
    if len(words) >= 2 and words[1] == "hundred" and words[0] in ONES[1:10]:
        value, words = 100 * ONES.index(words[0]), words[2:]
        words = words[1:] if words[:1] == ["and"] else words
        if not words:
            return value
    if len(words) == 1 and words[0] in WORD_VALUES:
        return value + WORD_VALUES[words[0]]
    if len(words) == 2 and words[0] in TENS[2:] and words[1] in ONES[1:10]:
        return value + WORD_VALUES[words[0]] + WORD_VALUES[words[1]]
    return None
