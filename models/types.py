"""What a model or a stream is for, and which recurrent cell runs it: the names every layer shares."""

from enum import StrEnum

__all__ = ["MODEL_TASKS", "Cell", "Decoder", "Task"]


class Task(StrEnum):
    KEYWORDS = "keywords"
    TRANSCRIPTION = "transcription"
    # The wake word, then the command it opens transcribed and read as an intent: both models on one stream.
    ASSISTANT = "assistant"


class Cell(StrEnum):
    GRU = "gru"
    LSTM = "lstm"


class Decoder(StrEnum):
    """How a recogniser's posteriors become text."""

    GREEDY = "greedy"  # best path
    BEAM = "beam"  # lexicon beam search with the language model


# The tasks a model is trained for; the assistant runs one model of each.
MODEL_TASKS = (Task.KEYWORDS, Task.TRANSCRIPTION)
