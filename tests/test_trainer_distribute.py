"""Training under tf.distribute: the plan sharding, the config checks, MirroredStrategy on two
logical CPUs against one device, and a real two-process MultiWorkerMirroredStrategy run.

The strategy tests run in subprocesses: a CPU can be split into logical devices, and a
multi-worker strategy created, only before TensorFlow initialises in a process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from trainer.config import ConfigError, TrainConfig
from trainer.distribute import _cluster_from_env, make_distribution, shard_plan

REPO = Path(__file__).resolve().parents[1]


def plan_rows(n: int) -> np.ndarray:
    return np.stack([np.zeros(n), np.arange(n), np.arange(n)[::-1]], axis=1).astype(np.int64)


@pytest.mark.parametrize("replicas, pipelines", [(1, 1), (2, 1), (2, 2), (4, 2), (3, 3)])
def test_shard_plan_splits_every_global_batch_over_the_replicas(replicas, pipelines):
    batch = 3
    plan = plan_rows(batch * replicas * 5)
    shards = [shard_plan(plan, batch, replicas, pipelines, i) for i in range(pipelines)]
    # Every row served exactly once...
    assert sorted(np.concatenate(shards)[:, 1].tolist()) == list(range(len(plan)))
    # ...and replica r of global batch k gets rows k*G + r*b .. k*G + (r+1)*b - 1.
    per = replicas // pipelines
    for i, rows in enumerate(shards):
        chunks = rows.reshape(-1, batch, 3)
        for j, chunk in enumerate(chunks):
            k, r = divmod(j, per)
            start = k * batch * replicas + (i * per + r) * batch
            assert chunk[:, 1].tolist() == list(range(start, start + batch))


def test_shard_plan_errors():
    with pytest.raises(ValueError, match="split evenly"):
        shard_plan(plan_rows(12), 2, 3, 2, 0)
    with pytest.raises(ValueError, match="out of range"):
        shard_plan(plan_rows(12), 2, 2, 2, 2)


def test_strategy_config_checks():
    assert TrainConfig(strategy="mirrored", replicas=2).strategy == "mirrored"
    with pytest.raises(ConfigError, match="strategy"):
        TrainConfig(strategy="tpu")
    with pytest.raises(ConfigError, match="replicas"):
        TrainConfig(replicas=-1)
    with pytest.raises(ConfigError, match="time_limit_s.*multiworker"):
        TrainConfig(strategy="multiworker", time_limit_s=60)
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_distribution("tpu")
    d = make_distribution("default")
    assert (d.strategy, d.replicas, d.is_chief, d.global_batch(4)) == (None, 1, True, 4)


@pytest.mark.parametrize(
    "value, match",
    [
        (None, "needs the TF_CONFIG"),
        ("{not json", "not a valid cluster"),
        ('{"cluster": {"worker": ["a:1"]}}', "not a valid cluster"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "index 1"),
    ],
)
def test_tf_config_errors(monkeypatch, value, match):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=match):
        _cluster_from_env()


def run_script(code: str, *args: str, env: dict | None = None, timeout: int = 600):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(REPO),
    )


def finish(proc: subprocess.Popen, timeout: int = 600) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


# One script for both checks: trains through trainer.train.train_model and prints the weights'
# summary; argv = out dir, strategy, replicas, per-replica batch, epochs, resume flag.
TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from trainer.config import load_config
    from trainer.distribute import make_distribution

    out, strategy, replicas, batch, epochs, resume = sys.argv[1:7]
    dist = make_distribution(strategy, int(replicas))  # first: before TF initialises
    from trainer.train import train_model

    config = load_config("smoke", overrides={
        "out": out, "strategy": strategy, "replicas": int(replicas), "batch_size": int(batch),
        "epochs": int(epochs), "steps_per_epoch": 2, "seed": 3, "p": 0.5,
        "transforms": [{"name": "cutmix", "params": {"alpha": 0.5, "beta": 2.0}, "weight": 1.0},
                       {"name": "skip_frame", "params": {}, "weight": 1.0}],
        "cache_dir": out + "-cache", "num_parallel_calls": 1,
    })
    run_dir, model = train_model(config, resume=resume == "1", verbose=0, evaluate=False,
                                 distribution=dist)
    weights = [np.asarray(w, np.float64) for w in model.get_weights()]
    np.savez(f"{out}-w{dist.worker_index}.npz", *weights)
    print(json.dumps({"replicas": dist.replicas, "chief": dist.is_chief,
                      "iterations": int(np.asarray(model.optimizer.iterations.value))}))
    """
)


# Two Adam steps at lr 1e-4: each weight moves by about lr * m / sqrt(v), which for a gradient
# near zero turns float32 noise in the gradient (synchronised BatchNorm's moments are summed
# across replicas, E[x^2] - E[x]^2, not computed in one pass) into a visible part of a step.
# 1e-5 is a tenth of one step: a real difference (a wrong batch split or statistic) moves
# weights by whole steps.
WEIGHT_TOL = 1e-5


def max_delta(a: Path, b: Path) -> tuple[float, float]:
    wa, wb = np.load(a), np.load(b)
    delta = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa.files)
    scale = max(float(np.abs(wa[k]).max()) for k in wa.files)
    return delta, scale


@pytest.mark.slow
def test_mirrored_two_logical_cpus_equal_one_device(tmp_path):
    """One global batch of 4: 2 replicas x 2 clips == 1 device x 4 clips, weights after 2 steps."""
    one = finish(run_script(TRAIN_SCRIPT, str(tmp_path / "one"), "default", "0", "4", "1", "0"))
    two = finish(run_script(TRAIN_SCRIPT, str(tmp_path / "two"), "mirrored", "2", "2", "1", "0"))
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert one["iterations"] == two["iterations"] == 2
    delta, _ = max_delta(tmp_path / "one-w0.npz", tmp_path / "two-w0.npz")
    # Adam's first steps move every weight by about lr = 1e-4; equal up to float round-off.
    assert delta < WEIGHT_TOL
    # The saved model is the portable one: plain BatchNorm, loadable without a strategy.
    with zipfile.ZipFile(tmp_path / "two" / "model.keras") as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    bn = [x["config"] for x in layers if x["class_name"] == "BatchNormalization"]
    assert bn and not any(c["synchronized"] for c in bn)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def multiworker(out: Path, epochs: int, resume: bool) -> list[dict]:
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = [
        run_script(
            TRAIN_SCRIPT, str(out), "multiworker", "0", "2", str(epochs), "1" if resume else "0",
            env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                       "index": i}})},
        )
        for i in range(2)
    ]  # fmt: skip
    return [finish(p) for p in procs]


@pytest.mark.slow
def test_multiworker_two_processes_identical_weights_chief_writes_and_resumes(tmp_path):
    out = tmp_path / "mw"
    first = multiworker(out, epochs=1, resume=False)
    assert [r["chief"] for r in first] == [True, False]
    assert [r["replicas"] for r in first] == [2, 2]
    assert [r["iterations"] for r in first] == [2, 2]
    delta, scale = max_delta(Path(f"{out}-w0.npz"), Path(f"{out}-w1.npz"))
    assert delta == 0.0 and scale > 0
    # The two workers together took the global batches one device takes: same weights.
    single = run_script(TRAIN_SCRIPT, str(tmp_path / "one"), "default", "0", "4", "1", "0")
    assert finish(single)["iterations"] == 2
    delta, _ = max_delta(tmp_path / "one-w0.npz", Path(f"{out}-w0.npz"))
    assert delta < WEIGHT_TOL
    # Only the chief wrote the run: one checkpoint, the model, the config.
    assert json.loads((out / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert (out / "model.keras").is_file() and (out / "config.yaml").is_file()

    second = multiworker(out, epochs=2, resume=True)
    assert [r["iterations"] for r in second] == [4, 4]
    delta, _ = max_delta(Path(f"{out}-w0.npz"), Path(f"{out}-w1.npz"))
    assert delta == 0.0
    assert json.loads((out / "checkpoint" / "state.json").read_text())["epoch"] == 2
