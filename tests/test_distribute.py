"""Strategy selection, and two worker processes on localhost matching one process."""

import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf import distribute

HERE = pathlib.Path(__file__).resolve().parent


def _two_worker_config(index: int, ports: list[int]) -> dict:
    return {
        "cluster": {"worker": [f"localhost:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    }


def test_no_tf_config_means_one_process(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.cluster_size() == 1 and distribute.is_chief()
    # This machine has no GPUs, so the default strategy: one replica.
    strategy = distribute.strategy_from_environment()
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1


def test_cluster_size_and_chief():
    worker1 = _two_worker_config(1, [1, 2])
    assert distribute.cluster_size(worker1) == 2 and not distribute.is_chief(worker1)
    assert distribute.is_chief(json.dumps(_two_worker_config(0, [1, 2])))
    with_chief = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker"}}
    assert distribute.cluster_size(with_chief) == 2 and not distribute.is_chief(with_chief)


def test_bad_tf_config_is_explained():
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.parse_tf_config("{cluster:")
    with pytest.raises(ValueError, match="not in its cluster"):
        distribute.parse_tf_config(_two_worker_config(2, [1, 2]))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _load_training_module():
    spec = importlib.util.spec_from_file_location(
        "multiworker_training", HERE / "multiworker_training.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_workers_and_reference(tmp_path_factory):
    """Trains the tiny BNN on two worker processes and, meanwhile, in this process."""
    tmp_path = tmp_path_factory.mktemp("multiworker")
    training = _load_training_module()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    training.write_idx_files(str(data_dir))
    ports = _free_ports(2)
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(_two_worker_config(index, ports)))
        env.pop("CUDA_VISIBLE_DEVICES", None)
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "multiworker_training.py"),
                    str(tmp_path / f"w{index}.npz"),
                    str(data_dir),
                    # Worker 1 gets TF_CONFIG as an argument, worker 0 from the environment.
                    *(["explicit"] if index == 1 else []),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    # The single-process reference runs here meanwhile, on the default strategy.
    tf.keras.backend.clear_session()
    reference = training.train(tf.distribute.get_strategy(), str(data_dir))
    logs = []
    for worker in workers:
        try:
            logs.append(worker.communicate(timeout=150)[0])
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail("multi-worker training timed out")
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log[-3000:]
    return [dict(np.load(tmp_path / f"w{index}.npz")) for index in range(2)], reference


def test_two_workers_match_one_process_with_the_same_global_batch(two_workers_and_reference):
    results, reference = two_workers_and_reference
    weights = [key for key in reference if key.startswith("weight_")]
    for result in results:
        assert int(result["num_replicas"]) == 2
        for key in weights:
            np.testing.assert_allclose(
                result[key], reference[key], rtol=1e-4, atol=1e-5, err_msg=key
            )
    # Signs flipped, so the weights compared are trained ones.
    assert np.all(reference["ff_ratio"] > 0) and np.all(reference["c2i_ratio"] < 1)


def test_two_workers_log_the_same_loss_and_ff_c2i(two_workers_and_reference):
    results, reference = two_workers_and_reference
    for result in results:
        for key in ("loss", "ff_ratio", "c2i_ratio"):
            np.testing.assert_allclose(
                result[key], reference[key], rtol=1e-4, atol=1e-5, err_msg=key
            )


def test_mirrored_strategy_matches_one_device(two_cpu_strategy, tmp_path):
    training = _load_training_module()
    training.write_idx_files(str(tmp_path))
    mirrored = training.train(two_cpu_strategy, str(tmp_path))
    tf.keras.backend.clear_session()
    single = training.train(tf.distribute.get_strategy(), str(tmp_path))
    assert int(mirrored["num_replicas"]) == 2
    for key, value in single.items():
        if key != "num_replicas":
            np.testing.assert_allclose(mirrored[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
