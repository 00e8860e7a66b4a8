import json
import subprocess
import sys

import pytest

from wellposed.cli import main


def test_help_works():
    for cmd in ([sys.executable, "-m", "wellposed", "--help"],):
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert res.returncode == 0 and "check" in res.stdout


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "--device", "tpu"])
    assert exc.value.code == 2
    assert main([]) == 2


def test_unknown_id_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["check", "S99", "--report-dir", str(tmp_path)]) == 2
    assert "unknown claim id" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_report_dir_exits_2(tmp_path, capsys):
    assert main(["check", "S7", "--report-dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_reports_are_deterministic_and_complete(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for d in (a, b):
        assert main(["check", "S7", "S8", "S9", "-q", "--report-dir", str(d),
                     "--json", str(d / "twin.json")]) == 0
    for name in ("claims.md", "claims.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    doc = json.loads((a / "claims.json").read_text())
    assert set(doc) == {"seed", "versions", "claims"}
    assert set(doc["versions"]) == {"python", "torch", "numpy", "scipy", "wellposed"}
    s8 = next(c for c in doc["claims"] if c["id"] == "S8")
    assert s8["observed"] == "refuted" and s8["ok"] is True
    rows = s8["evidence"]["counterexample"]["values"]["table"]
    lam10 = next(r for r in rows if r["lambda"] == 10.0)
    assert lam10["correct_s_star"] == pytest.approx(11 ** -0.5)
    assert lam10["answer_sigma_star"] == pytest.approx(19 ** -0.5)
    md = (a / "claims.md").read_text()
    assert "nox -s properties" in md and "| S8" in md and str(tmp_path) not in md
