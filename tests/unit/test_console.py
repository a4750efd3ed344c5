"""The demo's console: people get a line per step and the results, the log file gets everything.

Each test runs the console in a child process whose stdout is a pipe (the terminal), as a person's
shell would give it, so the file descriptors it redirects are that process's own."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CHILD_TASKS = """
import time
print("12:00:00.000 - INFO - Executing task \\x1b[96m'train-model'\\x1b[0m", flush=True)
time.sleep(0.1)
print("12:02:30.250 - INFO - Task \\x1b[96m'train-model'\\x1b[0m finished with status "
      "\\x1b[92mSUCCESS\\x1b[0m", flush=True)
print("12:02:31.000 - INFO - Executing task 'register-model'", flush=True)
print("12:02:32.500 - ERROR - Task 'register-model' finished with status FAILURE", flush=True)
"""


def _run(tmp_path: Path, body: str) -> str:
    script = f"""
import logging, subprocess, sys
from pathlib import Path
from affectops.console import Console
logging.basicConfig(level=logging.INFO)
with Console(Path({str(tmp_path / "logs" / "demo.log")!r})) as console:
{body}
print("after the console")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_child_processes_and_logging_go_to_the_log_and_steps_to_the_terminal(tmp_path: Path) -> None:
    terminal = _run(
        tmp_path,
        """    console.print("results: F1 0.7")
    child = [sys.executable, "-c", "print('child chatter')"]
    value = console.step("a child process", lambda: subprocess.run(child))
    print("this process's chatter")
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/v2")
    console.print(f"exit {value.returncode}")""",
    )
    lines = terminal.splitlines()
    assert lines[:2] == ["results: F1 0.7", "-> a child process"]
    assert lines[2].startswith("   done in ") and lines[2].endswith(" s")
    assert lines[3:] == ["exit 0", "after the console"]  # the descriptors are the terminal's again
    logged = (tmp_path / "logs" / "demo.log").read_text().splitlines()
    assert logged[0] == "results: F1 0.7" and logged[-1] == "exit 0"
    for text in ("child chatter", "this process's chatter", "HTTP Request: POST http://127.0.0.1/v2"):
        assert any(text in line for line in logged), text
        assert text not in terminal


def test_kfp_tasks_are_reported_as_they_finish_with_kfps_own_times(tmp_path: Path) -> None:
    terminal = _run(
        tmp_path,
        f"""    child = [sys.executable, "-c", {CHILD_TASKS!r}]
    console.step("pipeline", lambda: subprocess.run(child), tasks=True)""",
    )
    lines = terminal.splitlines()
    assert lines[0] == "-> pipeline" and lines[3].startswith("   done in ")
    assert lines[1].split() == ["train-model", "2.5", "min"]  # 12:00:00.000 to 12:02:30.250
    assert lines[2].split() == ["register-model", "1.5", "s", "FAILURE"]
