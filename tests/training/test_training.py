"""Training: split, objectives against the evaluation lines, bounds under training, CLI, report."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from wellposed.cli import main
from wellposed.errors import WellposedInputError
from wellposed.gate import _choose
from wellposed.ledger import load_ledger
from wellposed.lines import exact
from wellposed.lines.objectives import elbo, log_likelihood
from wellposed.training import data as tdata
from wellposed.training.criteria import T1_LEVEL, t1_divergence, t2_floor
from wellposed.training.loop import RunConfig, log_steps
from wellposed.training.objectives import (
    FLOOR_XI,
    TrainingModel,
    continuous_bernoulli_log_prob,
    discretised_logistic_log_prob,
    objective,
)
from wellposed.training.report import render_png, write_training_report
from wellposed.training.suite import run_suite


def test_split_is_deterministic_for_a_seed_and_partitions_the_rows() -> None:
    x = np.arange(50.0).reshape(25, 2)
    a_train, a_held = tdata.split(x, seed=7)
    b_train, b_held = tdata.split(x, seed=7)
    assert np.array_equal(a_train, b_train) and np.array_equal(a_held, b_held)
    assert not np.array_equal(tdata.split(x, seed=8)[0], a_train)
    rows = sorted(map(tuple, np.concatenate([a_train, a_held])))
    assert rows == sorted(map(tuple, x)) and len(a_held) == 5


def test_synthetic_sets_have_their_known_features() -> None:
    x, levels = tdata.synthetic("constant", n=50)
    assert levels is None and np.all(x[:, -1] == 0.5) and np.ptp(x[:, :-1], axis=0).min() > 0
    q, levels = tdata.synthetic("quantised", n=50)
    assert levels == 8 and np.array_equal(q * 8, np.round(q * 8))


@pytest.mark.parametrize("name", ["learned", "floor", "bernoulli"])
def test_float64_elbo_and_iwae_match_the_quadrature_line(name) -> None:
    """A fixed model with a 1-D latent: the harness's Monte Carlo ELBO and IWAE (many draws)
    agree with the project's quadrature line within 5 standard errors."""
    obj = objective(name)
    model = TrainingModel(obj, 3, latent_dim=1, hidden=6, seed=4).double()
    rng = np.random.default_rng(5)
    x = torch.as_tensor(rng.uniform(0.05, 0.95, size=(4, 3)), dtype=torch.float64)
    x = obj.prepare(x, None)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ll, kl = model.elbo_terms(x, torch.randn((40000, 4, 1), generator=g, dtype=torch.float64))
        per = ll - kl
        m, lv = model.encoder(x)
        assert np.allclose(kl.numpy(), exact.gaussian_kl(m.numpy(), lv.numpy()), rtol=1e-12)
        ref = elbo(model.decoder, model.encoder, x, method="quadrature").per_point
        se = per.std(0).numpy() / math.sqrt(per.shape[0])
        assert np.all(np.abs(per.mean(0).numpy() - ref) < 5 * se + 1e-9)
        logw = model.iwae_log_weights(
            x, torch.randn((20000, 4, 1), generator=g, dtype=torch.float64)
        )
        iwae = (torch.logsumexp(logw, 0) - math.log(20000)).numpy()
        ll_ref = log_likelihood(model.decoder, x, method="quadrature").per_point
        assert np.all(np.abs(iwae - ll_ref) < 0.02)


def test_discrete_and_continuous_bernoulli_densities_normalise() -> None:
    levels = 5
    mean = torch.tensor([0.13, 0.5, 0.97, -0.4], dtype=torch.float64)
    log_scale = torch.tensor([-3.0, -1.0, 0.5, -6.0], dtype=torch.float64)
    ks = torch.arange(levels + 1, dtype=torch.float64)[:, None] / levels
    mass = discretised_logistic_log_prob(ks, mean, log_scale, levels).exp().sum(0)
    assert torch.allclose(mass, torch.ones(4, dtype=torch.float64), atol=1e-12)
    grid = torch.linspace(0, 1, 200001, dtype=torch.float64)[:, None]
    for logit in (-30.0, -2.0, 1e-5, 0.3, 7.0):
        dens = continuous_bernoulli_log_prob(grid, torch.full_like(grid, logit)).exp()[:, 0]
        assert torch.trapezoid(dens, grid[:, 0]) == pytest.approx(1.0, abs=1e-4)


def test_bounds_are_the_ledger_closed_forms() -> None:
    d = tdata.TrainingData("t", np.full((4, 3), 0.25), np.full((1, 3), 0.5), 4, 0)
    assert objective("floor").bound_per_point(d) == pytest.approx(
        exact.floor_bound(1, 3, FLOOR_XI), rel=1e-12
    )
    assert objective("fixed").bound_per_point(d) == pytest.approx(-1.5 * math.log(2 * math.pi))
    assert objective("learned").bound_per_point(d) is None
    assert objective("dlogistic").bound_per_point(d) == pytest.approx(0.0)  # one distinct row
    assert objective("dequantised").bound_per_point(d) == pytest.approx(3 * math.log(5))


def test_floored_training_never_exceeds_its_bound(tiny_runs) -> None:
    floors = [r for r in tiny_runs if r["config"]["objective"] == "floor"]
    for r in floors:
        assert r["stopped_at"] is None and r["bound"] is not None
        assert max(row["train_elbo"] for row in r["log"]) <= r["bound"]
        assert r["batch_max"] <= r["bound"]
        assert min(row["min_lv"] for row in r["log"]) >= math.log(FLOOR_XI) - 1e-12
    assert t2_floor(tiny_runs, data=floors[0]["config"]["data"])["ok"]
    cfg = floors[0]["config"]
    assert [row["step"] for row in floors[0]["log"]] == log_steps(cfg["steps"], cfg["log_points"])


def test_criteria_fail_when_a_seed_breaks_them(tiny_runs) -> None:
    data = tiny_runs[0]["config"]["data"]
    broken = [dict(r) for r in tiny_runs]
    for r in broken:
        if r["config"]["objective"] == "floor" and r["config"]["seed"] == 1:
            r["batch_max"] = r["bound"] + 1.0
        if r["config"]["objective"] == "learned" and r["config"]["seed"] == 0:
            r["log"] = [{**row, "min_lv_flagged": T1_LEVEL + 1.0} for row in r["log"]]
    res = t2_floor(broken, data=data)
    assert not res["ok"] and [row["ok"] for row in res["per_seed"]] == [True, False]
    assert res["margin"] == -math.inf
    t1 = t1_divergence(broken, data=data)
    assert not t1["per_seed"][0]["ok"] and t1["margin"] < 0


@pytest.mark.slow  # two spawned workers import torch (10-40 s on a busy 2-core machine):
# the only test that the pool's records equal the one-process records
def test_same_seed_same_run_in_a_pool_or_in_process(tiny_npy, tiny_config) -> None:
    cfgs = [tiny_config(tiny_npy, "shared", s, steps=40) for s in (0, 1)]
    alone = run_suite(cfgs, jobs=1)
    pooled = run_suite(cfgs, jobs=2)
    for a, b in zip(alone, pooled, strict=True):
        assert a["log"] == b["log"] and a["batch_max"] == b["batch_max"]
    assert alone[0]["log"] != alone[1]["log"]


def test_report_links_its_figures_and_draws_the_same_bytes(tiny_runs, tmp_path) -> None:
    written = write_training_report(tiny_runs, tmp_path)
    md = (tmp_path / "training.md").read_text(encoding="utf-8")
    links = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert links and all((tmp_path / link).is_file() for link in links)
    assert all(not link.startswith("/") for link in links)
    assert all(p.exists() for p in written)
    spec = {
        "kind": "map",
        "data": "x",
        "shape": [2, 2],
        "flagged": [0],
        "maps": {"learned": [-9.0, -1.0, -2.0, -3.0]},
        "seeds": 1,
    }
    assert render_png(spec, "map") == render_png(spec, "map")


def test_training_claims_form_their_own_group() -> None:
    claims = load_ledger()
    core = {c.id for c in _choose(claims, None)}
    training = {c.id for c in _choose(claims, None, "training")}
    assert {"T1", "T2", "T3"} <= training and not core & training
    assert {c.id for c in _choose(claims, ["t2"])} == {"T2"}
    with pytest.raises(WellposedInputError, match="unknown claim group"):
        _choose(claims, None, "nightly")


def test_cli_rejects_bad_input_with_exit_2(tmp_path, tiny_npy, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[0.0, np.nan], [1.0, 2.0]]))
    cases = [
        ["train", "--data", str(bad)],
        ["train", "--data", str(nan)],
        ["train", "--data", tiny_npy, "--objectives", "dlogistic"],
        ["train", "--objectives", "nope"],
        ["train", "--data-set", "digits", "--seeds", "0"],
        ["check", "T1", "--group", "training"],
    ]
    if not torch.cuda.is_available():
        cases.append(["train", "--device", "cuda"])
    for argv in cases:
        assert main([*argv, "--no-report"] if argv[0] == "train" else argv) == 2, argv
        assert "wellposed: error:" in capsys.readouterr().err
    monkeypatch.setattr(tdata.importlib, "import_module", _no_sklearn)
    with pytest.raises(WellposedInputError, match=r"pip install 'wellposed\[train\]'"):
        tdata.load_training_data("digits")


def _no_sklearn(name: str):
    raise ImportError(f"No module named {name!r}")


def test_train_cli_writes_the_report(tmp_path, tiny_npy) -> None:
    out = tmp_path / "rep"
    code = main(
        [
            "train",
            "--data",
            tiny_npy,
            "--objectives",
            "floor",
            "--seeds",
            "1",
            "--steps",
            "30",
            "-j",
            "1",
            "-q",
            "--report-dir",
            str(out),
            "--runs-json",
            str(tmp_path / "runs.json"),
        ]
    )
    assert code == 0
    md = (out / "training.md").read_text(encoding="utf-8")
    assert "--data tiny.npy" in md and str(tmp_path) not in md
    assert (tmp_path / "runs.json").is_file()


def test_replace_keeps_configs_hashable() -> None:
    cfg = RunConfig("digits", "learned", 0)
    assert replace(cfg, seed=3).seed == 3 and cfg.steps == 3000
