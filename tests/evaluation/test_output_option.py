"""Scripts check their output file before any work (a long benchmark must not fail at the end)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from recoworld.evaluation.files import check_output_option

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_an_output_that_cannot_be_written_is_one_usage_error(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="bench")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for path in ("/proc/recoworld-missing/x.json", blocker / "x.json"):
        with pytest.raises(SystemExit) as stop:
            check_output_option(parser, "--json", path, overwrite=True)
        assert stop.value.code == 2
        assert "bench: error: --json" in capsys.readouterr().err
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    with pytest.raises(SystemExit):
        check_output_option(parser, "--json", kept, overwrite=False)
    assert "exists; refusing to overwrite" in capsys.readouterr().err
    check_output_option(parser, "--json", kept, overwrite=True)  # asked to replace it
    check_output_option(parser, "--json", None, overwrite=False)  # no output asked
    check_output_option(parser, "--json", tmp_path / "new" / "x.json", overwrite=False)
    assert kept.read_text() == "{}" and not (tmp_path / "new").exists()


def test_every_benchmark_with_a_json_output_checks_it_right_after_parsing():
    scripts = sorted(BENCHMARKS.glob("*.py"))
    assert scripts
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        if '"--json"' not in text:
            continue
        parsed = re.search(r"args = parser\.parse_args\((argv)?\)\n(.*)\n", text)
        assert parsed is not None, script.name
        assert 'check_output_option(parser, "--json", args.json' in parsed.group(2), script.name
