"""Where tasks run never changes their results: the local pool and a Dask cluster agree."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from wellposed.errors import WellposedInputError
from wellposed.executor import SCHEDULER_ENV, map_unordered, open_executor

ROOT = Path(__file__).parents[1]
#: cheap claims (well under a second each), bounded and unbounded, two seeds
IDS = ["L6", "F4", "F5", "L4"]
SEEDS = [0, 7]


def _seeds_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "wellposed_sweep_seeds", ROOT / "sweeps" / "seeds.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_json(results: dict) -> dict[str, str]:
    return {
        f"{cid}@{seed}": json.dumps(r.to_dict(), sort_keys=True)
        for (cid, seed), r in results.items()
    }


def test_an_unknown_executor_is_an_input_error() -> None:
    with (
        pytest.raises(WellposedInputError, match="unknown executor 'ray'; choose from local"),
        open_executor("ray"),
    ):
        pass


def test_map_unordered_returns_every_index_once() -> None:
    got = dict(map_unordered(abs, [-3, 1, -2], jobs=2))
    assert got == {0: 3, 1: 1, 2: 2}


@pytest.mark.slow
def test_a_two_worker_dask_cluster_gives_the_local_pools_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    distributed = pytest.importorskip("distributed")
    seeds = _seeds_script()
    local = seeds.sweep(SEEDS, IDS, kind="local", jobs=2)
    assert set(local) == {(cid, s) for s in SEEDS for cid in IDS}
    assert all(r.ok for r in local.values()), [r.problems for r in local.values()]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            remote = seeds.sweep(SEEDS, IDS, kind="dask")
            # the claims ran on the cluster's worker processes
            loaded = client.run(lambda: "wellposed.gate" in __import__("sys").modules)
            assert any(loaded.values()), loaded
    assert _as_json(remote) == _as_json(local)
    # the seed reaches the evidence: the same claim under another seed is another record
    assert _as_json(local)["L4@0"] != _as_json(local)["L4@7"]


def test_the_sweep_gives_cheap_claims_more_seeds() -> None:
    seeds = _seeds_script()
    pairs = seeds.plan(range(2), ["L6", "S2"], cheap_seeds=range(4))
    assert sorted(s for c, s in pairs if c == "L6") == [0, 1, 2, 3]  # cheap: 0.07 s
    assert sorted(s for c, s in pairs if c == "S2") == [0, 1]  # 2.6 s: the first seeds only
    assert len(pairs) == len(set(pairs))
