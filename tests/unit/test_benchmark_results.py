"""benchmarks/results.py: sections name the commit they were measured on; stale markers."""

import subprocess

import pandas as pd
import pytest

from benchmarks import results

pytestmark = pytest.mark.unit


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A git checkout with one committed code file, its RESULTS.md where the module writes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "code")
    (tmp_path / "benchmarks").mkdir()
    monkeypatch.setattr(results, "RESULTS", tmp_path / "benchmarks" / "RESULTS.md")
    return tmp_path, git("rev-parse", "--short", "HEAD").strip()


def test_a_section_names_its_commit_and_whether_the_tree_had_changes(checkout) -> None:
    root, sha = checkout
    table = pd.DataFrame({"what": ["a"], "seconds": [1.0]})
    results.write_section("One", table, "notes")
    # the results file itself is an output, not a change of the code measured
    assert f", commit {sha}.\n" in results.RESULTS.read_text()
    (root / "code.py").write_text("x = 2\n")
    results.write_section("One", table, "notes")
    text = results.RESULTS.read_text()
    assert f", commit {sha} with uncommitted changes.\n" in text and text.count("## One") == 1


def test_a_stale_marker_is_visible_replaced_and_gone_after_a_rerun(checkout) -> None:
    table = pd.DataFrame({"what": ["a"]})
    results.write_section("One", table, "first notes")
    results.write_section("Two", table, "second notes")
    results.mark_stale("One", "monitoring/drift.py changed (abc1234)")
    results.mark_stale("One", "monitoring/report.py changed (def5678)")
    text = results.RESULTS.read_text()
    assert "## One\n\n**Stale:** monitoring/report.py changed (def5678)\n\nfirst notes" in text
    assert "abc1234" not in text and "**Stale:**" not in text.split("## Two")[1]
    results.write_section("One", table, "first notes")
    assert "**Stale:**" not in results.RESULTS.read_text()
    with pytest.raises(ValueError, match="'Three': no such section"):
        results.mark_stale("Three", "x")
