"""Training-step speed of `ReActNetACompact` with FF/C2I/saturation tracking every n steps.

The main job tracks the FF-ratio, the C2I-ratio and the share of saturated binarizer inputs
inside the training step (`adambnn_tf.callbacks`). This benchmark builds the model once per
variant in one process: no tracking, tracking in every step, and tracking every `n`-th step
(`FFRatio(every_n_steps=n)`, `BinarizerSaturation(every_n_steps=n)`; `C2IRatio` measures at
epoch ends in all tracked variants). Each variant runs `fit` with a callback that reads the
step's logs, as the main job's per-step FF file does, and the variants are timed in
alternating rounds on the same random batches; the median step time of each round is kept.

Usage:
    python bench/tracking_overhead.py [STAGE [ROUNDS [STEPS [EVERY_N [BATCH_SIZE]]]]]

Example:
    python bench/tracking_overhead.py 1 4 30 10 128
"""

import json
import sys

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)


def main(argv: list[str]) -> None:
    import numpy as np
    import tensorflow as tf
    from _fit_timing import StepTimes, random_image_batches

    from adambnn_tf.callbacks import BinarizerSaturation, C2IRatio, FFRatio
    from adambnn_tf.zoo import ReActNetACompact

    defaults = ["1", "4", "30", "10", "128"]
    stage, rounds, steps, every_n, batch_size = (int(v) for v in argv + defaults[len(argv) :])
    data = random_image_batches(batch_size)

    def tracking(n: int | None) -> list[tf.keras.callbacks.Callback]:
        if n is None:
            return []
        return [
            FFRatio(log_step_value=True, every_n_steps=n),
            C2IRatio(),
            BinarizerSaturation(every_n_steps=n),
        ]

    variants = {"none": None, "every_step": 1, f"every_{every_n}_steps": every_n}
    models = {}
    for name, n in variants.items():
        tf.keras.utils.set_random_seed(0)
        model = ReActNetACompact(stage=stage, classifier_activation=None)
        model.compile(
            tf.keras.optimizers.Adam(1e-3),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        callbacks = tracking(n)
        model.fit(data, steps_per_epoch=2, epochs=1, verbose=0, callbacks=callbacks)  # trace
        models[name] = (model, callbacks)

    medians = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (model, callbacks) in models.items():
            timer = StepTimes()
            model.fit(
                data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[*callbacks, timer]
            )
            medians[name].append(float(np.median(timer.seconds[2:])))
    ratios = {
        name: [t / n for t, n in zip(times, medians["none"], strict=True)]
        for name, times in medians.items()
        if name != "none"
    }
    print(
        json.dumps(
            {
                "stage": stage,
                "batch_size": batch_size,
                "images_per_s": {
                    name: [round(batch_size / t) for t in times] for name, times in medians.items()
                },
                "step_time_ratio_to_none_per_round": {
                    name: [round(r, 3) for r in values] for name, values in ratios.items()
                },
                "median_ratio_to_none": {
                    name: round(float(np.median(values)), 3) for name, values in ratios.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
