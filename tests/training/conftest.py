"""Tiny training runs shared by the training tests (synthetic 'constant' set, small networks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wellposed.training import data as tdata
from wellposed.training.loop import RunConfig, train_run

TINY = {
    "hidden": 16,
    "latent_dim": 2,
    "batch": 20,
    "iwae_k": 16,
    "log_points": 4,
    "eval_samples": 2,
}
#: steps and learning rate of the tiny runs: enough for the T-criteria to hold on them
TINY_STEPS = 300
TINY_LR = 1e-2
TINY_OBJECTIVES = ("learned", "floor", "fixed", "bernoulli")


@pytest.fixture(scope="session")
def tiny_npy(tmp_path_factory) -> str:
    """60 points of the synthetic 'constant' set (a constant last coordinate), as .npy."""
    x, _ = tdata.synthetic("constant", n=60, seed=3)
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    np.save(path, x)
    return str(path)


def _config(path: str, obj: str, seed: int, steps: int = TINY_STEPS) -> RunConfig:
    return RunConfig(path, obj, seed, steps=steps, lr=TINY_LR, data_is_path=True, **TINY)


@pytest.fixture(scope="session")
def tiny_config():
    """``(path, objective, seed, steps=TINY_STEPS) -> RunConfig`` of a tiny run."""
    return _config


@pytest.fixture(scope="session")
def tiny_runs(tiny_npy) -> list[dict]:
    """Two seeds of each of :data:`TINY_OBJECTIVES`, trained :data:`TINY_STEPS` steps."""
    torch.set_num_threads(1)
    return [train_run(_config(tiny_npy, obj, seed)) for obj in TINY_OBJECTIVES for seed in (0, 1)]


@pytest.fixture(scope="session")
def one_step_runs(tiny_npy) -> list[dict]:
    """The same runs after one Adam step (the negative control of every T-criterion)."""
    torch.set_num_threads(1)
    return [
        train_run(_config(tiny_npy, obj, seed, steps=1))
        for obj in TINY_OBJECTIVES
        for seed in (0, 1)
    ]
