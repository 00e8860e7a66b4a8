"""Every T-criterion holds on trained runs and fails on its negative controls: one Adam step,
an untrained model, the wrong objective (a floor dropped, a relabelled run), a planted fault
in a training objective; a failing T-claim is reported as ``check failed``, never a verdict."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from wellposed.cli import main
from wellposed.evidence.vocabulary import CHECK_FAILED, LEDGER_VERDICTS
from wellposed.gate import run_claims
from wellposed.models import variance
from wellposed.training import data as tdata
from wellposed.training import objectives as tobj
from wellposed.training.criteria import (
    T1_LEVEL,
    t1_divergence,
    t2_floor,
    t3_fixed_bernoulli,
    t4_objective_check,
)
from wellposed.training.loop import RunConfig, make_model, train_run
from wellposed.training.reference import objective_check
from wellposed.training.suite import preset_configs, save_runs

CRITERIA = {"T1": t1_divergence, "T2": t2_floor, "T3": t3_fixed_bernoulli}


def _data(runs: list[dict]) -> str:
    return str(runs[0]["config"]["data"])


def _relabel(runs: list[dict], mapping: dict[str, str]) -> list[dict]:
    """Runs of one objective presented as another's (the wrong objective trained)."""
    out = []
    for r in runs:
        obj = r["config"]["objective"]
        if obj in mapping:
            r = copy.deepcopy(r)
            r["config"]["objective"] = mapping[obj]
            out.append(r)
    return out


def _untrained(runs: list[dict]) -> list[dict]:
    """Each run's record as if training had not moved the model: its initial evaluation as
    the only logged step."""
    out = []
    for r in runs:
        r = copy.deepcopy(r)
        r["log"] = [{**r["initial"], "step": 1}]
        r["batch_max"] = r["initial"]["train_elbo"]
        out.append(r)
    return out


def test_criteria_hold_on_trained_runs(tiny_runs) -> None:
    data = _data(tiny_runs)
    for cid, criterion in CRITERIA.items():
        res = criterion(tiny_runs, data=data)
        assert res["ok"] and res["margin"] > 0, (cid, res)
    t1 = t1_divergence(tiny_runs, data=data)
    assert t1["level"] == pytest.approx(math.log(1 / 256))
    assert t1["spread"]["mean"] > 3 * t1["spread"]["sd"] > 0


@pytest.mark.parametrize("cid", sorted(CRITERIA))
def test_criteria_fail_after_one_adam_step(one_step_runs, cid) -> None:
    res = CRITERIA[cid](one_step_runs, data=_data(one_step_runs))
    assert not res["ok"] and not any(row["ok"] for row in res["per_seed"])


@pytest.mark.parametrize("cid", sorted(CRITERIA))
def test_criteria_fail_on_an_untrained_model(tiny_runs, cid) -> None:
    runs = _untrained(tiny_runs)
    res = CRITERIA[cid](runs, data=_data(runs))
    assert res["per_seed"] and not res["ok"] and not any(row["ok"] for row in res["per_seed"])


def test_criteria_fail_on_the_wrong_objective(tiny_runs) -> None:
    data = _data(tiny_runs)
    # the floored run where the learned variance belongs: log sigma^2 stops at log xi
    t1 = t1_divergence(_relabel(tiny_runs, {"floor": "learned"}), data=data)
    assert not t1["ok"] and all(row["lowest_lv_flagged"] >= T1_LEVEL for row in t1["per_seed"])
    # the learned variance where a floor or a fixed variance belongs: it passes the bound
    t2 = t2_floor(_relabel(tiny_runs, {"learned": "floor"}), data=data)
    assert not t2["ok"] and not any(row["ok"] for row in t2["per_seed"])
    assert all(row["max_logged"] > row["supremum"] for row in t2["per_seed"])
    t3 = t3_fixed_bernoulli(_relabel(tiny_runs, {"learned": "fixed"}), data=data)
    assert not t3["ok"] and not any(row["elbo_below_bound"] for row in t3["per_seed"])


def test_t2_fails_when_the_floor_is_dropped(tiny_npy, tiny_config, monkeypatch) -> None:
    """The floor objective trained with Floor(xi) returning log softplus(r) (the planted
    fault floor-dropped): Adam sends the constant pixel past the floor's supremum."""
    monkeypatch.setattr(variance.Floor, "__call__", lambda self, raw: variance.log_softplus(raw))
    torch.set_num_threads(1)
    runs = [train_run(tiny_config(tiny_npy, "floor", seed)) for seed in (0, 1)]
    res = t2_floor(runs, data=_data(runs))
    assert not res["ok"] and all(row["max_logged"] > row["supremum"] for row in res["per_seed"])


def test_objective_check_agrees_for_every_objective_and_catches_faults(monkeypatch) -> None:
    """At fixed parameters and draws every training objective equals its numpy reference to
    rounding; a dropped KL constant or a flipped normaliser sign is caught."""
    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(0, 1, size=(12, 5)) * 8) / 8  # levels 8, inside [0, 1]
    x[:, 0] = 0.0
    data = tdata.TrainingData("x", x, x[:2], 8, 0)

    def check(name: str) -> dict:
        model = make_model(RunConfig("x", name, 0, latent_dim=2, hidden=7), data)
        return objective_check(model, x, seed=3)

    for name in tobj.OBJECTIVES:
        c = check(name)
        assert c["ok"] and c["max_abs_error"] < 1e-10, (name, c)
    good = tobj.continuous_bernoulli_log_prob
    monkeypatch.setattr(
        tobj,
        "continuous_bernoulli_log_prob",
        lambda v, logits: 2 * tobj.bernoulli_log_prob(v, logits) - good(v, logits),
    )
    c = check("cbernoulli")
    assert not c["ok"] and c["max_abs_error"] > 1e-3
    monkeypatch.setattr(tobj, "continuous_bernoulli_log_prob", good)
    encode = tobj.TrainingModel.encode

    def no_constant(self, v, eps):  # the KL's -1 per latent coordinate dropped
        t, kl = encode(self, v, eps)
        return t, kl + 0.5 * eps.shape[-1]

    monkeypatch.setattr(tobj.TrainingModel, "encode", no_constant)
    c = check("floor")
    assert not c["ok"] and c["max_abs_error"] == pytest.approx(1.0, rel=1e-9)


def test_t4_holds_on_trained_runs_and_fails_on_a_bad_check(tiny_runs) -> None:
    res = t4_objective_check(tiny_runs)
    assert res["ok"] and res["seeds"] == len(tiny_runs) and res["margin"] > 0.9
    broken = copy.deepcopy(tiny_runs)
    check = broken[3]["objective_check"]["trained"]
    check["max_abs_error"], check["ok"] = 2 * check["tolerance"], False
    res = t4_objective_check(broken)
    assert not res["ok"] and res["margin"] == pytest.approx(-1.0)
    del broken[0]["objective_check"]
    rows = t4_objective_check(broken)["per_seed"]
    assert sum(not row["ok"] for row in rows) == 2


def _fake_record(cfg: RunConfig, bound: float | None) -> dict:
    """A record meeting every T-criterion for ``cfg`` (the shape train_run writes)."""
    flagged_ll = {"floor": 1.85, "softclip": 5.0}.get(cfg.objective, -1.0)
    elbo_value = {"fixed": -60.0, "bernoulli": -10.0}.get(cfg.objective, -20.0)
    row = {
        "step": cfg.steps,
        "train_elbo": elbo_value,
        "min_lv": -11.0,
        "min_lv_flagged": -11.0 - 0.1 * cfg.seed,
        "flagged_ll": flagged_ll,
    }
    initial = {"step": 0, "train_elbo": -100.0, "min_lv_flagged": 0.0, "flagged_ll": -1.0}
    check = {"elbo": -1.0, "elbo_reference": -1.0, "max_abs_error": 0.0, "tolerance": 1e-8}
    return {
        "config": asdict(cfg),
        "bound": bound,
        "batch_max": elbo_value,
        "initial": initial,
        "log": [row],
        "objective_check": {"initial": {**check, "ok": True}, "trained": {**check, "ok": True}},
        "stopped_at": None,
    }


def test_t_claims_gate_every_seed_and_a_failure_is_a_regression(tmp_path, monkeypatch) -> None:
    """The gate reads $WELLPOSED_TRAINING_RUNS (what `nox -s training` passes): records that
    meet the criteria pass T1-T4 (exit 0); one seed over its bound fails T2 with exit 1 and
    the observed word ``check failed``, not a verdict."""
    bounds = {"learned": None, "floor": 118.6, "softclip": 325.2, "fixed": -58.8}
    bounds.update(bernoulli=-7.27)
    cfgs = preset_configs("ci", data=["digits"], seeds=3)
    records = [_fake_record(c, bounds.get(c.objective, 0.0)) for c in cfgs]
    path = tmp_path / "runs.json"
    save_runs(records, path)
    monkeypatch.setenv("WELLPOSED_TRAINING_RUNS", str(path))
    assert main(["check", "--group", "training", "--no-report", "-j", "1", "-q"]) == 0
    for r in records:
        if r["config"]["objective"] == "softclip" and r["config"]["seed"] == 2:
            r["batch_max"] = 326.0
        if r["config"]["objective"] == "learned" and r["config"]["seed"] == 1:
            r["log"][0]["min_lv_flagged"] = -5.0
        if r["config"]["objective"] == "dlogistic" and r["config"]["seed"] == 0:
            r["objective_check"]["trained"].update(max_abs_error=0.5, ok=False)
    save_runs(records, path)
    results = run_claims(["T1", "T2", "T4"], jobs=1)
    for res, bad in zip(results, ("seed(s) 1 ", "softclip 2", "dlogistic 0"), strict=True):
        assert not res.ok and res.observed == CHECK_FAILED, res
        assert res.observed not in LEDGER_VERDICTS and bad in res.summary
        assert "check failed" in res.problems[0]
