"""Choosing a `tf.distribute` strategy from the environment (`TF_CONFIG`, local devices)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

__all__ = ["cluster_size", "is_chief", "parse_tf_config", "strategy_from_environment"]

# Task types that run replicas of the model; "ps" and "evaluator" do not.
_REPLICA_TASK_TYPES = ("chief", "worker")


def parse_tf_config(tf_config: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Reads and checks `TF_CONFIG`.

    # Arguments
        tf_config: the configuration as JSON text or a mapping (default: the environment
            variable `TF_CONFIG`, or `{}` when it is unset).

    # Returns
        The configuration as a dict (`{}` when there is none).

    # Raises
        ValueError: when the JSON is malformed or names a task missing from the cluster.
    """
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if isinstance(tf_config, str):
        if not tf_config.strip():
            return {}
        try:
            config = json.loads(tf_config)
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {tf_config!r}") from error
    else:
        config = dict(tf_config)
    cluster = config.get("cluster", {})
    task = config.get("task")
    if task:
        addresses = cluster.get(task.get("type"), [])
        if not 0 <= int(task.get("index", 0)) < len(addresses):
            raise ValueError(
                f"TF_CONFIG's task {task} is not in its cluster {cluster}; set task.type to one "
                "of the cluster's job names and task.index below that job's number of addresses."
            )
    return config


def cluster_size(tf_config: str | Mapping[str, Any] | None = None) -> int:
    """The number of chief and worker tasks `TF_CONFIG` names (1 without `TF_CONFIG`)."""
    cluster = parse_tf_config(tf_config).get("cluster", {})
    return max(1, sum(len(cluster.get(job, [])) for job in _REPLICA_TASK_TYPES))


def is_chief(tf_config: str | Mapping[str, Any] | None = None) -> bool:
    """Whether this process should write the run's files (checkpoints, history, report).

    The chief is the `"chief"` task, or worker 0 when the cluster has no chief, or the only
    process when there is no `TF_CONFIG`.
    """
    config = parse_tf_config(tf_config)
    task = config.get("task")
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief


def strategy_from_environment(
    tf_config: str | Mapping[str, Any] | None = None,
) -> tf.distribute.Strategy:
    """Picks the distribution strategy the environment asks for.

    - `MultiWorkerMirroredStrategy` when `TF_CONFIG` names more than one chief/worker task;
      every task must call this at start-up, before building models or datasets.
    - `MirroredStrategy` over the local GPUs when there are several.
    - The default strategy (one device) otherwise.

    Build and compile the model under `strategy.scope()` and pass `fit` the global batch: Keras
    splits it over the replicas and averages gradients, so the optimizer state stays in step.

    # Arguments
        tf_config: `TF_CONFIG` as JSON text or a mapping (default: the environment variable).

    # Returns
        The strategy.

    # Raises
        ValueError: when `TF_CONFIG` is malformed.

    !!! example
        ```python
        strategy = strategy_from_environment()
        with strategy.scope():
            model = build_model()
            model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(dataset_with_global_batches, epochs=2)
        ```
    """
    if cluster_size(tf_config) > 1:
        if tf_config is not None:
            config = parse_tf_config(tf_config)
            resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
                tf.train.ClusterSpec(config["cluster"]),
                task_type=config["task"]["type"],
                task_id=int(config["task"].get("index", 0)),
                rpc_layer="grpc",
            )
            return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    return tf.distribute.get_strategy()
