"""Write a benchmark's table into its own section of benchmarks/RESULTS.md, with the commit it was
measured on; mark a section whose code changed since as stale.

Usage: python -m benchmarks.results stale SECTION --reason TEXT
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n\nWritten by the scripts in benchmarks/; each section says how to rerun it.\n"
# what the benchmarks write: a change there is no change of the code measured
OUTPUTS = ("benchmarks/RESULTS.md", "benchmarks/figures/")
STALE = "**Stale:**"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=RESULTS.parent, capture_output=True, text=True, check=True
    ).stdout.strip()


def provenance() -> str:
    """``commit <short sha>``, plus ``with uncommitted changes`` when tracked or untracked files
    (other than the benchmarks' own outputs) differ from it; says so when this is no git checkout."""
    try:
        sha = _git("rev-parse", "--short", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=all")
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown (not a git checkout)"
    changed = [line[3:] for line in status.splitlines() if not line[3:].startswith(OUTPUTS)]
    return f"commit {sha}" + (" with uncommitted changes" if changed else "")


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)


def write_section(name: str, table: pd.DataFrame, notes: str) -> Path:
    """Replace (or append) the section headed ``## name``; keeps the other sections. The section
    names the date, machine and commit (``provenance``) it was measured on."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    body = (
        f"## {name}\n\n{notes.strip()}\n\nMeasured {stamp} on {machine}, {provenance()}.\n\n"
        f"{table.to_markdown(index=False)}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = _pattern(name)
    text = pattern.sub(lambda _: body + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    RESULTS.write_text(text)
    return RESULTS


def mark_stale(name: str, reason: str) -> Path:
    """Put a visible stale marker with ``reason`` under the heading of section ``name`` (replacing
    an earlier marker); rerunning its benchmark rewrites the section without one."""
    text = RESULTS.read_text()
    section = _pattern(name).search(text)
    if section is None:
        headings = re.findall(r"^## (.+)$", text, re.M)
        raise ValueError(f"{name!r}: no such section in {RESULTS.name}; sections: {headings}")
    heading, _, rest = section.group(0).partition("\n\n")
    if rest.startswith(STALE):
        rest = rest.partition("\n\n")[2]
    marked = f"{heading}\n\n{STALE} {reason.strip()}\n\n{rest}"
    RESULTS.write_text(text[: section.start()] + marked + text[section.end() :])
    return RESULTS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stale = commands.add_parser("stale", help="mark a section as stale")
    stale.add_argument("section", help="the section's heading, without '## '")
    stale.add_argument("--reason", required=True, help="what changed since it was measured")
    args = parser.parse_args(argv)
    print(mark_stale(args.section, args.reason))


if __name__ == "__main__":
    main()
