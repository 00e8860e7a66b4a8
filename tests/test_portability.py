"""wellposed.portability: the committed reports under every torch kernel level of this CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wellposed.portability import LEVELS, available_levels, check, main, regenerate

ROOT = Path(__file__).resolve().parents[1]

# families.md as a report would print it: the Student-t floor probe's sentence (portable by
# construction) and, when planted, torch's raw value at df = 1e15 (lgamma round-off)
_REPORT = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from wellposed.audit.probes import _probe_studentt_floor
rows, text = _probe_studentt_floor()
line = text + (f"; torch at df = 1e15: {{rows[3].torch_value:.6g}}" if {planted!r} else "")
Path(sys.argv[1], "families.md").write_text(line + "\\n")
"""


def _commands(planted: bool, out: Path) -> list[list[str]]:
    return [[sys.executable, "-c", _REPORT.format(root=str(ROOT), planted=planted), str(out)]]


def test_the_levels_found_are_torchs_own() -> None:
    found = available_levels()
    assert found and found[0] == "default" and set(found) <= set(LEVELS)


@pytest.mark.slow
def test_a_planted_kernel_dependent_value_is_caught(tmp_path: Path) -> None:
    """The committed report from one level; each level regenerates it and the staleness
    check compares.  The probe's sentence is the same under every level; torch's digits at
    df = 1e15 are not (lgamma cancellation), and the check says which level differs."""
    levels = available_levels()
    if len(levels) < 2:
        pytest.skip("this CPU offers torch a single kernel level")
    for planted in (False, True):
        committed = tmp_path / f"committed-{planted}"
        committed.mkdir()
        # the committed report: generated under the highest level, as on a developer's CPU
        assert (
            regenerate(
                levels[-1],
                committed,
                committed,
                properties=False,
                commands=_commands(planted, committed),
            )
            == []
        )
        work = tmp_path / f"work-{planted}"
        problems = []
        for level in levels:
            problems += check(
                committed,
                work,
                [level],
                properties=False,
                commands=_commands(planted, work / level),
            )
        if planted:
            assert problems and all("families.md differs" in p for p in problems)
            assert any(p.startswith("default:") for p in problems)
        else:
            assert problems == []


def test_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--reports", str(tmp_path / "missing")]) == 2
    assert main(["--reports", str(tmp_path), "--levels", "sse9"]) == 2
    assert "unknown kernel level" in capsys.readouterr().err
