import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
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


def test_report_dir_that_is_a_file_exits_2_and_writes_nothing(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep")
    assert main(["check", "S7", "--report-dir", str(f)]) == 2
    assert f"--report-dir {f} is a file, not a directory" in capsys.readouterr().err
    assert main(["check", "S7", "--report-dir", str(f / "sub")]) == 2
    assert "afile is a file, not a directory" in capsys.readouterr().err
    assert main(["check", "S7", "--json", str(f / "x.json")]) == 2
    assert "afile is a file, not a directory" in capsys.readouterr().err
    assert main(["check", "S7", "--json", str(tmp_path)]) == 2
    assert "is a directory; give a file name, or - for stdout" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"] and f.read_text() == "keep"


def test_reports_are_deterministic_and_complete(tmp_path, capsys):
    a, b = tmp_path / "a" / "new", tmp_path / "b" / "new"  # missing directories are created
    for d in (a, b):
        assert (
            main(
                [
                    "check",
                    "S7",
                    "S8",
                    "S9",
                    "-q",
                    "--report-dir",
                    str(d),
                    "--json",
                    str(d / "sub" / "twin.json"),
                ]
            )
            == 0
        )
        printed = capsys.readouterr()
        assert f"wrote {d / 'sub' / 'twin.json'}" in printed.err
    for name in ("claims.md", "claims.json", "sub/twin.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    doc = json.loads((a / "claims.json").read_text())
    assert set(doc) == {"schema_version", "command", "inputs", "seed", "versions", "claims"}
    assert doc["schema_version"] == 1 and doc["inputs"]["ids"] == ["S7", "S8", "S9"]
    twin = json.loads((a / "sub" / "twin.json").read_text())
    assert list(twin)[:3] == ["schema_version", "command", "inputs"]
    assert twin["schema_version"] == 1 and twin["command"] == "check"
    assert twin["inputs"] == {
        "ids": ["S7", "S8", "S9"],
        "seed": 0,
        "device": "auto",
        "ledger": None,
    }
    body = {k: v for k, v in doc.items() if k != "inputs"}
    assert {k: twin[k] for k in body} == body
    assert set(doc["versions"]) == {"python", "torch", "numpy", "scipy", "wellposed"}
    s8 = next(c for c in doc["claims"] if c["id"] == "S8")
    assert s8["observed"] == "refuted" and s8["ok"] is True
    rows = s8["evidence"]["counterexample"]["values"]["table"]
    lam10 = next(r for r in rows if r["lambda"] == 10.0)
    assert lam10["correct_s_star"] == pytest.approx(11**-0.5, rel=1e-5)  # 6 digits
    assert lam10["answer_sigma_star"] == pytest.approx(19**-0.5, rel=1e-5)
    md = (a / "claims.md").read_text()
    assert "nox -s properties" in md and "| S8" in md and str(tmp_path) not in md
    # the terminal table spells every attained cell as claims.md does (no "-" for "")
    assert _column_by_id(printed.out, "attained") == _column_by_id(md, "attained")
    assert _column_by_id(md, "attained")["S9"] in {"yes", "no", "unknown"}


def _column_by_id(markdown: str, name: str) -> dict[str, str]:
    """``{id: cell}`` of column ``name`` in every markdown table of ``markdown`` that has it."""
    found: dict[str, str] = {}
    header: list[str] | None = None
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else []
        if not cells:
            header = None
        elif cells[0] == "id":
            header = cells
        elif header and name in header and not set(cells[0]) <= set("-: "):
            found[cells[0]] = cells[header.index(name)]
    return found


# ---------------------------------------------------------------------------------------
# audit-family / audit-data
# ---------------------------------------------------------------------------------------


def _synthetic_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    X[:, 1] = 7.0  # constant column
    X[:, 2] = rng.integers(0, 2, size=20)  # 0/1 column
    X[5] = X[3]  # duplicated row
    return X


def test_cli_audit_data_names_all_three(tmp_path, capsys):
    p = tmp_path / "X.npy"
    np.save(p, _synthetic_data())
    assert main(["audit-data", str(p)]) == 0
    out = capsys.readouterr().out
    for word in (
        "constant_coordinate",
        "exact_zero_one",
        "duplicate_rows",
        "per-coordinate learned variance",
        "continuous Bernoulli",
    ):
        assert word in out
    assert main(["audit-data", str(p), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["findings"]) >= 3
    assert doc["schema_version"] == 1 and doc["command"] == "audit-data"
    assert doc["inputs"] == {"data": str(p), "latent_dim": None}


def test_cli_malformed_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file")
    assert main(["audit-data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "numpy.save" in err
    assert main(["audit-data", str(tmp_path / "none.npy")]) == 2


def test_cli_audit_family(capsys):
    assert main(["audit-family", "continuous_bernoulli", "--values", "0,0.5"]) == 0
    out = capsys.readouterr().out
    assert "unbounded" in out and "bounded" in out and "diverges" not in out
    assert main(["audit-family", "Exponential", "--values", "0,1", "--json", "-"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "numerical" and d["counts"]["unbounded"] == 1
    assert main(["audit-family", "nosuch", "--values", "1"]) == 2
    assert main(["audit-family", "normal"]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["audit-family", "normal", "--values", "0,abc"]) == 2
    assert "comma-separated" in capsys.readouterr().err


def test_audit_json_to_a_file_and_the_one_convention(tmp_path, capsys):
    out = tmp_path / "new" / "dir" / "a.json"
    assert (
        main(["audit-family", "lognormal", "--values", "-1,0.5", "--seed", "3", "--json", str(out)])
        == 0
    )
    cap = capsys.readouterr()
    assert "family lognormal" in cap.out and f"wrote {out}" in cap.err
    doc = json.loads(out.read_text())
    assert list(doc)[:3] == ["schema_version", "command", "inputs"]
    assert doc["command"] == "audit-family" and doc["schema_version"] == 1
    assert doc["inputs"] == {
        "family": "lognormal",
        "data": None,
        "values": [-1.0, 0.5],
        "seed": 3,
        "method": "auto",
    }
    assert doc["observations"][0]["bound"] == "-inf"  # jsonable's spelling, not -Infinity
    assert "Infinity" not in out.read_text() and "NaN" not in out.read_text()
    assert doc["counts"] == {"unbounded": 1, "bounded": 0, "inconclusive": 0, "outside support": 1}
    data = tmp_path / "X.npy"
    np.save(data, np.array([0.2, 0.7]))
    assert main(["audit-data", str(data), "--latent-dim", "1", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)  # stdout holds the JSON document only
    assert doc["inputs"] == {"data": str(data), "latent_dim": 1}
    assert main(["audit-family", "normal", "--data", str(data), "--json", str(data)]) == 2
    assert "is the data file" in capsys.readouterr().err
    assert np.load(data).tolist() == [0.2, 0.7]


def test_check_json_to_stdout_is_the_only_stdout(capsys):
    assert main(["check", "S7", "--no-report", "--json", "-"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["command"] == "check" and doc["inputs"]["ids"] == ["S7"]
    assert [c["id"] for c in doc["claims"]] == ["S7"]
    assert "| S7" in cap.err and "claim S7 ok" in cap.err  # the table moved to stderr


def _one_claim_ledger(tmp_path: Path, claim_id: str) -> Path:
    text = (Path(__file__).parents[1] / "wellposed" / "ledger.toml").read_text()
    head, *blocks = text.split("[[claim]]")
    (block,) = [b for b in blocks if f'id = "{claim_id}"' in b]
    path = tmp_path / "ledger.toml"
    path.write_text(head + "[[claim]]" + block)
    return path


def test_full_run_outside_the_repository_creates_reports(tmp_path, monkeypatch, capsys):
    import wellposed.audit

    ledger = _one_claim_ledger(tmp_path, "S7")
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    one = wellposed.audit.audit_family("normal", np.array([0.5]), probe=False)
    monkeypatch.setattr(wellposed.audit, "report_family_audits", lambda seed: [one])  # fast
    assert main(["check", "-q", "--ledger", str(ledger)]) == 0  # all claims of that ledger
    err = capsys.readouterr().err
    assert {"claims.json", "claims.md", "families.md"} <= {
        p.name for p in (work / "reports").iterdir()
    }
    assert f"created directory {work / 'reports'}" in err
    assert f"wrote {work / 'reports' / 'claims.md'}" in err


# ---------------------------------------------------------------------------------------
# data input errors: exit 2, a precise message, nothing written
# ---------------------------------------------------------------------------------------


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    d = tmp_path / "dir.npy"
    d.mkdir()
    txt = tmp_path / "text.npy"
    txt.write_text("1,2,3\n")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    cpx = tmp_path / "complex.npy"
    np.save(cpx, np.array([1.0 + 2.0j, 3.0]))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[1.0, 2.0], [np.inf, np.nan]]))
    return {
        "directory": (d, "is a directory; pass a .npy file"),
        "text": (
            txt,
            "is not a NumPy .npy file (it starts with b'1,2,3\\n'); save it with numpy.save",
        ),
        "object": (obj, "holds an object array (dtype object)"),
        "complex": (
            cpx,
            "complex values are not supported; pass the real part explicitly "
            "(x.real) if that is what you mean",
        ),
        "non-finite": (nan, "2 NaN or infinite entries (the first at index (1, 0): inf)"),
    }


@pytest.mark.parametrize("kind", ["directory", "text", "object", "complex", "non-finite"])
@pytest.mark.parametrize("command", ["audit-data", "audit-family"])
def test_bad_data_exit_2_with_a_precise_message(tmp_path, capsys, kind, command):
    path, message = _bad_inputs(tmp_path)[kind]
    out = tmp_path / "out" / "x.json"
    argv = (
        [command, str(path)]
        if command == "audit-data"
        else [command, "normal", "--data", str(path)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning, no other warning
        assert main([*argv, "--json", str(out)]) == 2
    cap = capsys.readouterr()
    assert message in cap.err and cap.out == ""
    assert "allow_pickle" not in cap.err and "Traceback" not in cap.err
    assert not out.parent.exists()


def test_values_input_errors_exit_2(capsys):
    assert main(["audit-family", "normal", "--values", "1,nan"]) == 2
    assert "--values: 1 NaN or infinite entries" in capsys.readouterr().err
    assert main(["audit-family", "normal", "--values", "-inf"]) == 2
    assert "NaN or infinite" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# audit output: at most 50 rows, counts, the support
# ---------------------------------------------------------------------------------------


def test_family_table_shows_50_rows_then_counts(capsys):
    values = ",".join(str(v) for v in [*(0.01 * k for k in range(1, 63)), 0.0, 1.0, 2.0])
    assert main(["audit-family", "continuous_bernoulli", "--values", values]) == 0
    out = capsys.readouterr().out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert len(rows) == 50
    assert "... and 15 more observations (use --json for all)" in out
    assert out.rstrip().endswith("2 unbounded, 62 bounded, 0 inconclusive, 1 outside support")
    assert main(["audit-family", "normal", "--values", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "more observations" not in out
    assert out.rstrip().endswith("2 unbounded, 0 bounded, 0 inconclusive")


@pytest.mark.parametrize(
    ("family", "values", "support"),
    [
        ("beta", "2", "outside the support of beta (x in [0, 1])"),
        ("gamma", "-1", "outside the support of gamma (x >= 0)"),
        ("lognormal", "-1,0", "outside the support of lognormal (x > 0)"),
    ],
)
def test_all_observations_outside_the_support_exit_2(capsys, family, values, support):
    assert main(["audit-family", family, "--values", values]) == 2  # --values -1 works too
    err = capsys.readouterr().err
    assert support in err and "the density is 0 there for every parameter" in err
    assert "sup log p" not in err and "bounded" not in err


def test_some_observations_outside_the_support(capsys):
    assert main(["audit-family", "beta", "--values", "2,0.5"]) == 0
    out = capsys.readouterr().out
    assert "verdict: unbounded (over the 1 observation inside the support)" in out
    # the observation table is wider than 160 characters: split over its columns, each part
    # repeating the observation number
    row0 = " ".join(line for line in out.splitlines() if line.startswith("| 0 "))
    assert "| outside support " in row0 and "outside the support of beta (x in [0, 1])" in row0
    assert "sup log p <= -inf" not in out
    assert main(["audit-family", "Kumaraswamy", "--values", "2,0.5", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["observations"][0]["verdict"] == "outside support"
    assert doc["observations"][0]["reason"] == "outside the support of Kumaraswamy (x in [0, 1])"
    assert any("1 of 2 observations are outside the support" in n for n in doc["notes"])


# ---------------------------------------------------------------------------------------
# pipes and help
# ---------------------------------------------------------------------------------------


def _closed_pipe_run(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``python -m wellposed ARGS`` with a stdout pipe whose reader has already left."""
    with subprocess.Popen(
        [sys.executable, "-m", "wellposed", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        proc.stdout.close()  # the reader leaves before the first byte (like `| head -0`)
        err = proc.stderr.read()
        proc.wait(timeout=300)
    return subprocess.CompletedProcess(args, proc.returncode, "", err)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "S7", "--no-report", "-q", "-j", "1"],  # small output: fails at the final flush
        ["audit-family", "normal", "--values", ",".join(map(str, range(3000))), "--json", "-"],
        ["--help"],
    ],
)
def test_a_closed_pipe_prints_no_traceback(args):
    res = _closed_pipe_run(args)
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
    assert "Exception ignored" not in res.stderr
    assert res.returncode in (0, 1)


def test_check_piped_into_head():
    res = subprocess.run(
        f"'{sys.executable}' -m wellposed check S7 --no-report -q -j 1 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.stdout.startswith("| id") and "Traceback" not in res.stderr


def test_help_is_fast_imports_no_numpy_and_lists_exit_codes():
    script = (
        "import sys, time\nt = time.perf_counter()\nimport wellposed.cli as cli\n"
        "for argv in (['--help'], ['check', '--help']):\n"
        "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
        "print('numpy' in sys.modules, 'torch' in sys.modules, time.perf_counter() - t)"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    numpy, torch, seconds = res.stdout.strip().splitlines()[-1].split()
    assert (numpy, torch) == ("False", "False")
    assert float(seconds) < 0.5  # measured ~0.02 s; the interpreter start is not counted
    for argv in (["--help"], ["check", "--help"], ["audit-data", "--help"]):
        res = subprocess.run(
            [sys.executable, "-m", "wellposed", *argv], capture_output=True, text=True, check=True
        )
        assert "exit status:" in res.stdout and "  2  bad usage or input" in res.stdout
        assert ("  0  " in res.stdout) and (argv[0] == "audit-data" or "  1  " in res.stdout)
    res = subprocess.run(
        [sys.executable, "-m", "wellposed", "check", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "default: ./reports when all claims run" in res.stdout
    assert "created if missing" in res.stdout


def test_an_internal_error_exits_3_never_the_verdict_status(tmp_path, capsys, monkeypatch):
    """A bug inside a command (here: the data audit raising) is exit 3 with its traceback,
    never 1 (the status of a regression or of --fail-on unbounded)."""
    import wellposed.audit as audit

    def broken(*args, **kwargs):
        raise RuntimeError("planted bug")

    monkeypatch.setattr(audit, "audit_data", broken)
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).uniform(size=(5, 3)))
    assert main(["audit-data", str(data), "--latent-dim", "1"]) == 3
    err = capsys.readouterr().err
    assert "planted bug" in err and "internal error (exit 3)" in err
