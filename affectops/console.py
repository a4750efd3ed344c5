"""The demo's terminal: a line per step with its timing, progress on long steps, the results; everything
else (kfp.local's executor output, the child processes' logs, HTTP request logging) goes to a log file.

Inside ``Console`` the process's file descriptors 1 and 2 point at the log file, so whatever writes to
them (this process, kfp.local's task subprocesses, any library) lands there; ``Console.print`` writes
to the terminal the process started with and copies the line into the log.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# kfp.local's own log lines (kfp/local/pipeline_orchestrator.py, the task handlers)
TASK_START = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) .*Executing task '([^']+)'")
TASK_END = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) .*Task '([^']+)' finished with status (\w+)")


class Console:
    """A context: the terminal for people, the log file for the rest (see the module docstring)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._terminal: IO[str] | None = None
        self._saved: tuple[int, int] | None = None

    def __enter__(self) -> Console:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = os.dup(1), os.dup(2)
        self._terminal = os.fdopen(os.dup(1), "w", buffering=1)
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        assert self._saved is not None and self._terminal is not None
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        self._terminal.close()

    def print(self, text: str = "") -> None:
        """A line for the terminal (and the log)."""
        assert self._terminal is not None
        self._terminal.write(text + "\n")
        sys.stdout.flush()  # what the process wrote before this line comes before it in the log
        os.write(1, (text + "\n").encode())

    def step(self, name: str, fn: Callable[[], T], *, tasks: bool = False) -> T:
        """Run ``fn`` as one step: a line when it starts and one with its time when it ends; with
        ``tasks``, a line per kfp.local task as it finishes (read off the log)."""
        self.print(f"-> {name}")
        start = time.perf_counter()
        with self._task_progress() if tasks else _nothing():
            result = fn()
        self.print(f"   done in {_seconds(time.perf_counter() - start)}")
        return result

    @contextmanager
    def _task_progress(self) -> Iterator[None]:
        sys.stdout.flush()
        offset = self.log_path.stat().st_size
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch_tasks, args=(offset, stop), daemon=True)
        watcher.start()
        try:
            yield
        finally:
            sys.stdout.flush()
            stop.set()
            watcher.join()

    def _watch_tasks(self, offset: int, stop: threading.Event) -> None:
        started: dict[str, datetime] = {}
        with self.log_path.open(encoding="utf-8", errors="replace") as log:
            log.seek(offset)
            pending = ""
            while True:
                done = stop.is_set()  # read once more after the step ended: its last lines
                pending += log.read()
                *lines, pending = pending.split("\n")
                for line in (ANSI.sub("", raw) for raw in lines):
                    if match := TASK_START.search(line):
                        started[match[2]] = _clock(match[1])
                    elif match := TASK_END.search(line):
                        took = (_clock(match[1]) - started.get(match[2], _clock(match[1]))).total_seconds()
                        status = "" if match[3] == "SUCCESS" else f" {match[3]}"
                        self._terminal_line(f"   {match[2]:<28} {_seconds(took % 86400):>8}{status}")
                if done:
                    return
                stop.wait(0.5)

    def _terminal_line(self, text: str) -> None:
        assert self._terminal is not None
        self._terminal.write(text + "\n")


def _clock(stamp: str) -> datetime:
    """kfp.local's ``HH:MM:SS.mmm`` (a task past midnight: the modulo above)."""
    return datetime.strptime(stamp, "%H:%M:%S.%f")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


@contextmanager
def _nothing() -> Iterator[None]:
    yield
