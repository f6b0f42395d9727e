"""Step-time overhead of tracking the FF-ratio (and C2I-ratio) every step, on ReActNet-A.

The same compiled model is trained with three train functions, built once each and
alternated round by round so that machine noise hits all of them alike:

- `plain`: Keras' own training step;
- `ff`: the step with `adambnn_tf.callbacks.FFRatio` inside;
- `ff+c2i`: the step with `FFRatio` and `C2IRatio` inside (C2I recomputed once per epoch,
  its default; the hook-only timings below also show it recomputed every step).

Each round times `--steps` steps of every variant; the report gives the median step time per
variant over the rounds and its ratio to `plain`.

    python bench/ff_overhead.py --input-size 224 --batch-size 4
"""

# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)
from __future__ import annotations

import argparse
import statistics
import time

import adambnn_tf  # noqa: F401  (selects tf-keras before TensorFlow loads)
import numpy as np
import tensorflow as tf

from adambnn_tf.callbacks import C2IRatio, FFRatio
from adambnn_tf.callbacks._step_hooks import StepContext
from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer
from adambnn_tf.zoo import ReActNetA


# As `fit` tells its callbacks; C2IRatio recomputes at the last step of an epoch only.
STEPS_PER_EPOCH = 1000


def _train_function(model, hooks):
    for hook in hooks:
        hook.set_params({"epochs": 1, "steps": STEPS_PER_EPOCH, "verbose": 0})
        hook.set_model(model)
        hook.on_train_begin()
        hook.on_epoch_begin(0)
    function = model.make_train_function(force=True)
    for hook in hooks:
        hook.on_train_end()  # detach, so that the next variant is built without it
    return function


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--stage", type=int, default=2, choices=(1, 2))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--small-input", action="store_true")
    args = parser.parse_args()

    tf.keras.utils.set_random_seed(0)
    size = args.input_size
    model = ReActNetA(
        input_shape=(size, size, 3),
        num_classes=1000,
        stage=args.stage,
        small_input=args.small_input,
        classifier_activation=None,
    )
    model.compile(
        StageAwareOptimizer(OfficialAdam(1e-4), stage=args.stage),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(args.batch_size, size, size, 3)).astype("float32")
    labels = rng.integers(0, 1000, size=args.batch_size)
    iterator = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())

    latent = [v for v in model.trainable_weights if adambnn_tf.quantizers.is_latent_weight(v)]
    print(
        f"ReActNet-A stage {args.stage}, input {size}x{size}, batch {args.batch_size}, "
        f"{len(latent)} latent tensors, {sum(v.shape.num_elements() for v in latent):,} latent "
        f"weights, TF {tf.__version__}, "
        f"devices {[d.name for d in tf.config.list_logical_devices()]}"
    )
    variants = {
        "plain": _train_function(model, []),
        "ff": _train_function(model, [FFRatio()]),
        "ff+c2i": _train_function(model, [FFRatio(), C2IRatio()]),
    }
    for function in variants.values():  # trace and warm up
        for _ in range(2):
            float(function(iterator)["loss"])
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, function in variants.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                logs = function(iterator)
            float(logs["loss"])  # wait for the step's results, as Keras' progress bar does
            times[name].append((time.perf_counter() - start) / args.steps)
    plain = statistics.median(times["plain"])
    print("| variant | median step (ms) | min step (ms) | x plain (median) | overhead (ms) |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median * 1e3:.1f} | {min(values) * 1e3:.1f} | {median / plain:.3f} | "
            f"{(median - plain) * 1e3:+.1f} |"
        )
    per_round = [f / p for f, p in zip(times["ff"], times["plain"], strict=True)]
    print("ff/plain per round:", " ".join(f"{r:.3f}" for r in per_round))

    # The optimizer's own update alone, for scale: both are memory-bound passes over the
    # latent weights, so their ratio carries over to other hardware better than step times.
    variables = model.trainable_variables
    gradients = [tf.random.normal(v.shape, stddev=1e-3) for v in variables]

    @tf.function
    def update_only():
        model.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return model.optimizer.iterations

    int(update_only())
    samples = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(5):
            iterations = update_only()
        int(iterations)
        samples.append((time.perf_counter() - start) / 5)
    update_cost = statistics.median(samples)
    print(f"optimizer update alone: median {update_cost * 1e3:.1f} ms per step")

    # The hook's own ops, alone (less noisy than a difference of step times).
    isolated = (
        ("ff", [FFRatio()]),
        ("ff without XLA", [FFRatio(jit_compile=False)]),
        ("ff+c2i, c2i every step", [FFRatio(), C2IRatio(every_step=True)]),
    )
    for name, hooks in isolated:
        for hook in hooks:
            hook.set_model(model)
            hook.on_train_begin()

        @tf.function
        def hook_ops(hooks=hooks):
            context = StepContext()
            logs = {}
            for hook in hooks:
                logs.update(hook.after_train_step(context))
            return logs

        float(hook_ops()[hooks[0].prefix])
        samples = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(5):
                logs = hook_ops()
            float(logs[hooks[0].prefix])
            samples.append((time.perf_counter() - start) / 5)
        for hook in hooks:
            hook.on_train_end()
        cost = statistics.median(samples)
        print(
            f"{name} hook ops alone: median {cost * 1e3:.1f} ms per step = "
            f"{cost / plain * 100:.2f}% of the median plain step, "
            f"{cost / min(times['plain']) * 100:.2f}% of the fastest, "
            f"{cost / update_cost * 100:.0f}% of the optimizer update"
        )


if __name__ == "__main__":
    main()
