"""Debian's Prometheus and nginx as child processes on loopback, for the tests of the deployment's configuration."""

import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"


def binary(name: str) -> str:
    """The path of a program the Makefile's SYSTEM_PACKAGES installs; a clear failure where it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    assert path, f"{name} is missing: run `make system` (it installs the Makefile's SYSTEM_PACKAGES)"
    return path


class Daemon:
    """A child process whose output goes to a log file; stop() ends it with SIGTERM, then SIGKILL."""

    def __init__(self, command: list[str], log: Path):
        self.log_path = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text()

    def answers(self, url: str) -> bool:
        """Whether url answers 200; fails with the log if the process has died."""
        assert self.process.poll() is None, f"{self.process.args[0]} exited:\n{self.log()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
