"""Times one training step of ReActNet-A (stage 2) in Keras (this plugin) against PyTorch.

Same batch, resolution, loss (cross-entropy on logits) and optimizer (Adam) in both. Each
framework runs in its own subprocess (so that peak RSS, `ru_maxrss`, is its own), and the
two alternate round by round, so that load from other processes on a shared machine hits
both alike. Reports the median step time of each, their ratio (Keras / PyTorch) and the
peak RSS.

    python bench/train_step_vs_pytorch.py --batch 8 --size 224 --rounds 3 --steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from _machine import compare_workers, serve_worker  # beside this script

HERE = os.path.dirname(os.path.abspath(__file__))


def _keras_worker(args) -> dict:
    # isort: off
    import adambnn_tf  # noqa: F401  (before TensorFlow: selects tf-keras and oneDNN)
    import numpy as np
    import tensorflow as tf
    from adambnn_tf.zoo import ReActNetA

    # isort: on

    if args.tf_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.tf_threads)

    model = ReActNetA(
        input_shape=(args.size, args.size, 3),
        stage=2,
        padding=args.padding,
        width_multiplier=args.width,
        classifier_activation=None,
    )
    optimizer = tf.keras.optimizers.legacy.Adam(1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=False)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    rng = np.random.default_rng(0)
    images = tf.constant(rng.standard_normal((args.batch, args.size, args.size, 3), "float32"))
    labels = tf.constant(rng.integers(0, 1000, args.batch))
    start = time.perf_counter()
    train_step(images, labels).numpy()  # trace + first step
    first = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        train_step(images, labels).numpy()
        times.append(time.perf_counter() - start)
    return {"first_step_s": first, "step_s": times}


def _torch_worker(args) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    import torch_reactnet

    torch.set_num_threads(args.threads)
    model = torch_reactnet.ReActNetA(stage=2, width_multiplier=args.width).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.standard_normal((args.batch, 3, args.size, args.size), "float32"))
    labels = torch.from_numpy(rng.integers(0, 1000, args.batch))

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    start = time.perf_counter()
    train_step()
    first = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        train_step()
        times.append(time.perf_counter() - start)
    return {"first_step_s": first, "step_s": times}


def main() -> int:
    from adambnn_tf.config.choices import PADDINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--width", type=float, default=1.0, help="width multiplier")
    parser.add_argument("--padding", default="pytorch", choices=PADDINGS)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument(
        "--tf-threads", type=int, default=0, help="TF intra/inter-op threads (0: TF's default)"
    )
    parser.add_argument("--worker", choices=("keras", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        return serve_worker({"keras": _keras_worker, "torch": _torch_worker}, args)

    summary, ratio = compare_workers(__file__, args)
    print(json.dumps({"config": vars(args), "summary": summary, "keras_over_torch": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
