"""The staleness check: committed reports vs regenerated ones, up to the reports' rounding."""

import json

from wellposed.staleness import json_match, main, text_match


def test_json_ignores_last_digit_noise_but_not_verdicts_or_numbers():
    old = {"versions": {"torch": "a"}, "claims": [{"id": "S1", "observed": "unbounded",
                                                  "ok": True, "slope": 1.5, "rel_error": 1e-8}]}
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
        old / "figures" / "claim-S1.json").read_bytes()
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
