"""The QA harness: benchmark, fuzzer, soak, transport floor, cutting proxy and the servers they load.

Not needed to serve: its libraries (hypothesis) come with the `qa` extra; the commands that need them ask
`libraries_missing()` first.
"""

import importlib.util


def libraries_missing() -> str | None:
    """Why the fuzzer and the soak cannot run here, as a line for the person at the command line; None if they can."""
    if importlib.util.find_spec("hypothesis") is None:
        return "the QA harness needs hypothesis: pip install 'rnnvoice[qa]'"
    return None
