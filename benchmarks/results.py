"""Write a benchmark's table into its own section of benchmarks/RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n\nWritten by the scripts in benchmarks/; each section says how to rerun it.\n"


def write_section(name: str, table: pd.DataFrame, notes: str) -> Path:
    """Replace (or append) the section headed ``## name``; keeps the other sections."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    body = (
        f"## {name}\n\n{notes.strip()}\n\nMeasured {stamp} on {machine}.\n\n"
        f"{table.to_markdown(index=False)}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: body + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    RESULTS.write_text(text)
    return RESULTS
