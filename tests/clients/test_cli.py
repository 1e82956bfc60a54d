"""The command line as people expect it: every option's help with its default, --version, `mic` and `stream`
taking the same options, one name for the recognition task, and a command whose extra is not installed saying
which to install."""

import argparse
import sys
from importlib.metadata import version

import pytest

from rnnvoice.clients import cli
from tests.conftest import FIXTURES


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"rnnvoice": parser, **sub.choices}


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    skipped = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    return [a for a in parser._actions if a.option_strings and not isinstance(a, skipped)]


@pytest.mark.parametrize("name", list(commands()))
def test_every_option_has_help_that_shows_its_default(name):
    parser = commands()[name]
    text = parser.format_help()
    for action in options(parser):
        assert action.help, f"{name} {action.option_strings[0]} has no help"
        if action.required:
            continue
        shown = cli.HelpFormatter(name)._get_help_string(action)
        # A default of none is said in words: what leaving the option out means, or that it is needed.
        assert "%(default)s" in shown or "default:" in shown or "needed" in shown, (
            f"{name} {action.option_strings[0]}: {shown!r}"
        )
    # Help wraps at the terminal's width, and a path default's length depends on the checkout.
    assert "(default: " in " ".join(text.split())


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"rnnvoice {version('rnnvoice')}"


def test_mic_takes_the_same_transcription_and_keyword_options_as_stream():
    parsers = commands()
    stream = {a.dest: (a.option_strings, a.default) for a in options(parsers["stream"])}
    mic = {a.dest: (a.option_strings, a.default) for a in options(parsers["mic"])}
    for dest in (
        "task",
        "cell",
        "server",
        "keywords",
        "phrase",
        "sensitivity",
        "hint",
        "endpoint_s",
        "initial_silence_s",
        "max_utterance_s",
        "decoder",
        "alternatives",
        "voice_events",
        "voice_timeout_s",
        "interim",
    ):
        assert dest in stream and dest in mic, dest
        assert mic[dest][0] == stream[dest][0], dest
    assert (stream["interim"][1], mic["interim"][1]) == (False, True)  # a live microphone shows partials


@pytest.mark.parametrize("command", ["stream", "mic", "eval"])
def test_the_recognition_task_is_transcription_and_asr_is_still_understood(command):
    parser = commands()[command]
    required = {"stream": ["recording.wav"], "mic": [], "eval": ["--cell", "gru", "--data", "x"]}[command]
    assert parser.parse_args([*required, "--task", "asr"]).task == "transcription"
    task = next(a for a in options(parser) if a.dest == "task")
    assert "asr" not in task.choices and "transcription" in task.choices


@pytest.mark.parametrize(
    "argv, library, extra",
    [
        (["fuzz"], "hypothesis", "qa"),
        (["soak", str(FIXTURES / "spoken_seven_yes.wav")], "hypothesis", "qa"),
        (["dashboard"], "matplotlib", "plots"),  # the PNG is all it makes
    ],
)
def test_a_command_whose_extra_is_not_installed_says_how_to_install_it(argv, library, extra, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, library, None)  # as if not installed: importing it fails
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pip install 'rnnvoice[{extra}]'" in err
