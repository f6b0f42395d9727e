"""Training-step speed of RSign and RPReLU with written-out gradients against autodiff.

`adambnn_tf.quantizers.approx_sign` and `RPReLU` write their gradients out (fewer elementwise
ops, the same values: `tests/test_quantizers.py`, `tests/test_layers.py`). This benchmark
builds `ReActNetACompact` twice in one process: once as the package builds it, once with the
previous forms (Larq's `approx_sign`, and RPReLU's forward differentiated by TensorFlow). Each
train step is traced once, then the two are timed in alternating rounds on the same random
batches; the median step time of each round is kept.

Usage:
    python bench/binarizer_gradients.py [STAGE [ROUNDS [STEPS [BATCH_SIZE]]]]

Example:
    python bench/binarizer_gradients.py 1 6 25 128
"""

import json
import sys
import time

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)


def _autodiff_forms():
    """Swaps in the autodiff forms; returns a function that restores the package's forms."""
    import larq as lq
    import tensorflow as tf

    from adambnn_tf import layers, quantizers

    rsign_call, rprelu_call = quantizers.RSign.call, layers.RPReLU.call

    def autodiff_rsign(self, inputs):
        shifted = inputs + tf.cast(self.threshold, inputs.dtype)
        return lq.quantizers._BaseQuantizer.call(self, lq.quantizers.approx_sign(shifted))

    def autodiff_rprelu(self, inputs):
        shifted = inputs + tf.cast(self.input_bias, inputs.dtype)
        alpha = tf.reshape(tf.cast(self.alpha, inputs.dtype), self._alpha_broadcast_shape)
        activated = tf.nn.relu(shifted) + (-alpha * tf.nn.relu(-shifted))
        return activated + tf.cast(self.output_bias, inputs.dtype)

    quantizers.RSign.call, layers.RPReLU.call = autodiff_rsign, autodiff_rprelu

    def restore():
        quantizers.RSign.call, layers.RPReLU.call = rsign_call, rprelu_call

    return restore


def main(argv: list[str]) -> None:
    import numpy as np
    import tensorflow as tf

    from adambnn_tf.zoo import ReActNetACompact

    defaults = ["1", "6", "25", "128"]
    stage, rounds, steps, batch_size = (int(v) for v in argv + defaults[len(argv) :])
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size * 8, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, size=batch_size * 8)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).cache().repeat()

    def traced_step():
        tf.keras.utils.set_random_seed(0)
        model = ReActNetACompact(stage=stage, classifier_activation=None)
        model.compile(
            tf.keras.optimizers.Adam(1e-3),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        step, batches = model.make_train_function(), iter(data)
        step(batches)  # trace
        return step, batches

    contestants = {"written_out": traced_step()}
    restore = _autodiff_forms()
    contestants["autodiff"] = traced_step()
    restore()

    medians = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, (step, batches) in contestants.items():
            times = []
            for _ in range(steps):
                start = time.perf_counter()
                step(batches)
                times.append(time.perf_counter() - start)
            medians[name].append(float(np.median(times)))
    ratios = [w / a for w, a in zip(medians["written_out"], medians["autodiff"], strict=True)]
    print(
        json.dumps(
            {
                "stage": stage,
                "batch_size": batch_size,
                "images_per_s": {
                    name: [round(batch_size / t) for t in times] for name, times in medians.items()
                },
                "step_time_ratio_per_round": [round(r, 3) for r in ratios],
                "median_ratio": round(float(np.median(ratios)), 3),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
