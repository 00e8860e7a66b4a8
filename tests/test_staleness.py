"""The staleness check: committed reports vs regenerated ones, up to the reports' rounding."""

import json
import re
import shutil
from pathlib import Path

from wellposed.evidence.records import ERROR_FLOOR
from wellposed.staleness import (
    _NUMBER,
    EXPENSIVE,
    FIGURES,
    IGNORED_KEYS,
    REPORTS,
    compare,
    consistency,
    json_match,
    main,
    same_printed,
    text_match,
)


def test_json_ignores_last_digit_noise_but_not_verdicts_or_numbers():
    old = {
        "versions": {"torch": "a"},
        "claims": [
            {"id": "S1", "observed": "unbounded", "ok": True, "slope": 1.5, "rel_error": 1e-8}
        ],
    }
    noise = json.loads(json.dumps(old))
    noise["versions"] = {"torch": "b"}
    noise["claims"][0]["slope"] = 1.50001
    noise["claims"][0]["rel_error"] = 9.9e-9
    assert json_match(old, noise)
    for key, value in [("observed", "bounded"), ("ok", False), ("slope", 1.6), ("id", "S2")]:
        changed = json.loads(json.dumps(old))
        changed["claims"][0][key] = value
        assert not json_match(old, changed), key
    assert not json_match(old, {**old, "claims": []})


def test_text_ignores_padding_and_noise_but_not_words_or_numbers():
    old = "| S1 | unbounded | 0.5774 |\n|----|-----------|--------|\n"
    assert text_match(old, "| S1 | unbounded | 0.57741 |\n|----|-----------|---------|\n")
    assert not text_match(old, old.replace("unbounded", "bounded"))
    assert not text_match(old, old.replace("0.5774", "0.61"))
    assert not text_match(old, old + "| S2 | bounded | 1 |\n")
    assert not text_match("sup log p <= -inf\n", "sup log p <= inf\n")  # a sign is a word


def test_main_restores_committed_bytes_and_names_stale_reports(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "claims.md").write_text("value 1.00000\n")
    (new / "claims.md").write_text("value 1.00001\n")
    assert main([str(old), str(new)]) == 0
    assert (new / "claims.md").read_text() == "value 1.00000\n"
    (new / "claims.md").write_text("value 2\n")
    assert main([str(old), str(new)]) == 1
    assert "claims.md" in capsys.readouterr().err


def _figure(root, stem, data, png):
    (root / "figures").mkdir(parents=True, exist_ok=True)
    (root / "figures" / f"{stem}.json").write_text(json.dumps({"name": stem, "data": data}))
    (root / "figures" / f"{stem}.png").write_bytes(png)


def test_figures_compare_by_their_data_not_their_pixels(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    _figure(old, "claim-S1", {"x": [1.0, 2.0], "values": [0.5774, 3.0]}, b"\x89PNG old")
    # another machine's freetype draws other pixels, and the data's last digit moved
    _figure(new, "claim-S1", {"x": [1.0, 2.0], "values": [0.57741, 3.0]}, b"\x89PNG new")
    assert main([str(old), str(new)]) == 0
    assert (new / "figures" / "claim-S1.png").read_bytes() == b"\x89PNG old"
    assert (new / "figures" / "claim-S1.json").read_bytes() == (
        old / "figures" / "claim-S1.json"
    ).read_bytes()
    # the plotted data changed: stale, and the new figure is kept for review
    _figure(new, "claim-S1", {"x": [1.0, 2.0], "values": [0.61, 3.0]}, b"\x89PNG new")
    assert main([str(old), str(new)]) == 1
    assert "figures/claim-S1 changed" in capsys.readouterr().err
    assert (new / "figures" / "claim-S1.png").read_bytes() == b"\x89PNG new"


def test_a_figure_added_or_removed_is_stale(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    _figure(old, "claim-S1", {"x": [1.0]}, b"png")
    _figure(new, "claim-S1", {"x": [1.0]}, b"png")
    _figure(new, "claim-S2", {"x": [1.0]}, b"png")
    assert main([str(old), str(new)]) == 1
    err = capsys.readouterr().err
    assert "figures/claim-S2" in err and "figures/claim-S1" not in err
    (new / "figures" / "claim-S2.png").unlink()
    (new / "figures" / "claim-S2.json").unlink()
    (new / "figures" / "claim-S1.png").unlink()  # its data alone is not the figure
    assert main([str(old), str(new)]) == 1


# ---- numbers as printed ------------------------------------------------------------------

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"


def _perturbed(token: str, rel: float = 1e-5, sig: int | None = None) -> str:
    """``token`` x (1 + rel) as the reports print (6 digits, ``%g``), or with ``sig`` digits
    kept (``%e``: trailing zeros shown)."""
    v = float(token) * (1.0 + rel)
    return f"{v:.6g}" if sig is None else f"{v:.{sig - 1}e}"


def test_a_number_matches_only_as_printed() -> None:
    assert not same_printed("1", "0.999571")  # S6's slope printed as 1: 429 units of 1e-6
    assert same_printed("1", "0.999999") and same_printed("1", "1.00001")  # a boundary
    assert same_printed("0.4486", "0.4487") and not same_printed("0.4486", "0.4488")
    assert not same_printed("4", "5") and not same_printed("12", "13")  # counts, ids
    assert same_printed("1e-08", "0") and same_printed("1", "1.0")  # floor; one value
    sup = 5.523995  # L2's supremum moved by 0.4 %
    assert not same_printed(f"{sup}", f"{sup * 1.004:.7g}")
    assert not same_printed("inf", "1e+308") and same_printed("nan", "nan")


def test_every_printed_number_of_every_report_detects_a_1e5_change() -> None:
    """Number by number: a 1e-5 relative change, printed with one more digit than the
    reports use, is never taken for a rounding boundary."""
    for path in sorted(REPORTS_DIR.glob("*.md")) + sorted(REPORTS_DIR.glob("*.json")):
        for token in _NUMBER.findall(path.read_text("utf-8")):
            v = float(token)
            if v != 0 and abs(v) > ERROR_FLOOR * 1.01:
                assert not same_printed(token, _perturbed(token, sig=7)), (path.name, token)


def _perturb_json(value: object) -> object:
    if isinstance(value, dict):
        return {k: v if k in IGNORED_KEYS else _perturb_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_perturb_json(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return float(_perturbed(json.dumps(value)))


def test_every_committed_report_is_stale_when_every_number_moves_1e5(tmp_path) -> None:
    """The whole committed reports/ (reports and figures' data), each number x (1 + 1e-5)
    printed as the reports print (6 digits): every report and every figure is stale."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REPORTS_DIR, old)
    shutil.copytree(REPORTS_DIR, new)
    names = [n for n in REPORTS if (old / n).exists()]
    for name in names:
        path = new / name
        if name.endswith(".json"):
            doc = _perturb_json(json.loads(path.read_text("utf-8")))
            path.write_text(json.dumps(doc, indent=2) + "\n")
        else:
            path.write_text(_NUMBER.sub(lambda m: _perturbed(m.group()), path.read_text()))
    figures = sorted(p.stem for p in (new / FIGURES).glob("*.json"))
    for stem in figures:
        path = new / FIGURES / f"{stem}.json"
        path.write_text(json.dumps(_perturb_json(json.loads(path.read_text("utf-8")))))
    stale = compare(old, new)
    assert set(stale) == set(names) | {f"{FIGURES}/{s}" for s in figures}
    assert set(names) >= {
        "claims.md",
        "claims.json",
        "families.md",
        "properties.md",
        "seeds.md",
        "mutants.md",
    }


def test_committed_reports_match_themselves_and_keep_their_bytes(tmp_path) -> None:
    new = tmp_path / "new"
    shutil.copytree(REPORTS_DIR, new)
    assert compare(REPORTS_DIR, new) == []


def test_bytes_are_restored_only_over_a_printed_equal_report(tmp_path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "claims.md").write_text("slope 0.999571\n")
    (new / "claims.md").write_text("slope 1\n")
    assert compare(old, new) == ["claims.md"]
    assert (new / "claims.md").read_text() == "slope 1\n"  # kept for review
    (new / "claims.md").write_text("slope 0.99957\n")  # 0.1 unit of 1e-5: a rounding flip
    assert compare(old, new) == []
    assert (new / "claims.md").read_text() == "slope 0.999571\n"


def test_json_leaves_out_machine_dependent_values_only() -> None:
    old = {
        "claims": [
            {
                "id": "F6",
                "evidence": {"implementation": "agrees", "machine_dependent": {"torch": [6.0]}},
            }
        ]
    }
    new = json.loads(json.dumps(old))
    new["claims"][0]["evidence"]["machine_dependent"]["torch"] = [10.0]
    assert json_match(old, new)
    new["claims"][0]["evidence"]["implementation"] = "deviates"
    assert not json_match(old, new)


def test_seeds_and_mutants_are_compared_without_their_seconds(tmp_path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REPORTS_DIR, old)
    new.mkdir()
    stale = [n for n in compare(old, new) if not n.startswith(FIGURES)]
    assert stale == [n for n in REPORTS if n not in EXPENSIVE]  # not regenerated: skipped
    seeds = (old / "seeds.md").read_text()
    mutants = (old / "mutants.md").read_text()
    assert re.search(r"CPU, \d+ s\.", seeds) and re.search(r"\| \d+ \|$", mutants, re.M)
    (new / "seeds.md").write_text(re.sub(r"CPU, \d+ s\.", "CPU, 1234 s.", seeds))
    (new / "mutants.md").write_text(re.sub(r"\| \d+ \|$", "| 7 |", mutants, flags=re.M))
    assert not {"seeds.md", "mutants.md"} & set(compare(old, new))
    one_less = re.sub(
        r"\| (\d+) / (\d+) \|", lambda m: f"| {int(m[1]) - 1} / {m[2]} |", seeds, count=1
    )
    assert one_less != seeds
    (new / "seeds.md").write_text(one_less)
    (new / "mutants.md").write_text(mutants.replace("| gate |", "| tests |", 1))
    assert {"seeds.md", "mutants.md"} <= set(compare(old, new))


def test_seeds_and_mutants_must_cover_the_current_claims_and_faults(tmp_path) -> None:
    faults = REPORTS_DIR.parent / "mutants" / "faults.toml"
    shutil.copytree(REPORTS_DIR, tmp_path / "r")
    assert consistency(tmp_path / "r", faults=faults) == []
    seeds = (tmp_path / "r" / "seeds.md").read_text()
    without_f6 = re.sub(r"^\| F6 \|[^\n]*\n", "", seeds, flags=re.M)
    assert without_f6 != seeds
    (tmp_path / "r" / "seeds.md").write_text(without_f6)
    mutants = (tmp_path / "r" / "mutants.md").read_text()
    (tmp_path / "r" / "mutants.md").write_text(mutants.replace("`log-pi`", "`log-tau`"))
    problems = consistency(tmp_path / "r", faults=faults)
    assert len(problems) == 2 and "F6" in problems[0] and "log-tau" in problems[1]
