"""Training-step speed of `ReActNetACompact` under TensorFlow's thread-pool settings.

TensorFlow fixes its thread pools when it starts, so each setting runs in its own worker
process. The workers build the same model (same seed), trace the training step, then wait;
the parent asks them in turn, round after round, to run `STEPS` steps of `fit` on the same
random batches and report the median step time. Alternating rounds keep the shared machine's
drift out of the ratios.

Settings are written `INTRA,INTER`: TensorFlow's intra-op and inter-op thread counts, 0 for
TensorFlow's default (one per core).

Usage:
    python bench/thread_settings.py [--stage S] [--rounds R] [--steps N] [--batch-size B]
        [--settings INTRA,INTER ...]

Example:
    python bench/thread_settings.py --stage 1 --rounds 4 --steps 40 --batch-size 64 \\
        --settings 0,0 2,1 1,1
"""

import argparse
import json
import statistics
import subprocess
import sys

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)


def worker(stage: int, batch_size: int, intra: int, inter: int) -> None:
    """Builds the model under one thread setting and times `fit` on request.

    Reads a step count per line from stdin and answers each with the median step time, in
    seconds, on stdout; an empty line ends the worker.
    """
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)

    from _fit_timing import StepTimes, random_image_batches

    from adambnn_tf.zoo import ReActNetACompact

    data = random_image_batches(batch_size)

    tf.keras.utils.set_random_seed(0)
    model = ReActNetACompact(stage=stage, classifier_activation=None)
    model.compile(
        tf.keras.optimizers.Adam(1e-3),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # trace
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        timer = StepTimes()
        model.fit(data, steps_per_epoch=int(line), epochs=1, verbose=0, callbacks=[timer])
        print(float(np.median(timer.seconds[2:])), flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--settings", nargs="+", default=["0,0", "2,1", "1,1"])
    parser.add_argument("--worker", metavar="INTRA,INTER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        intra, inter = (int(v) for v in args.worker.split(","))
        worker(args.stage, args.batch_size, intra, inter)
        return

    workers = {}
    for setting in args.settings:
        command = [sys.executable, __file__, "--worker", setting]
        command += ["--stage", str(args.stage), "--batch-size", str(args.batch_size)]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # One worker traces at a time, so each startup has the machine to itself.
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"The worker for {setting} failed to start.")
        workers[setting] = process

    medians: dict[str, list[float]] = {setting: [] for setting in workers}
    for _ in range(args.rounds):
        for setting, process in workers.items():
            process.stdin.write(f"{args.steps}\n")
            process.stdin.flush()
            medians[setting].append(float(process.stdout.readline()))
    for process in workers.values():
        process.stdin.write("\n")
        process.stdin.flush()
        process.wait()

    baseline = args.settings[0]
    ratios = {
        setting: [t / b for t, b in zip(times, medians[baseline], strict=True)]
        for setting, times in medians.items()
    }
    print(
        json.dumps(
            {
                "stage": args.stage,
                "batch_size": args.batch_size,
                "images_per_s": {
                    setting: [round(args.batch_size / t) for t in times]
                    for setting, times in medians.items()
                },
                f"step_time_ratio_to_{baseline}_per_round": {
                    setting: [round(r, 3) for r in values] for setting, values in ratios.items()
                },
                f"median_ratio_to_{baseline}": {
                    setting: round(statistics.median(values), 3)
                    for setting, values in ratios.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
