"""Latency and conversion time of ReActNet-A exported to Larq Compute Engine, side by side.

Converts ReActNet-A (stage 2, 224x224, random weights) with `adambnn_tf.export.export`
(LCE, target arm) and a float clone of the same architecture with the standard TFLite
converter, then measures single-image latency, interleaved round by round so that load from
other processes hits every contestant alike:

- `lce`: the LCE flatbuffer in LCE's interpreter (on x86: reference binary kernels);
- `float_lce_interp`: the float flatbuffer in the same LCE interpreter (no XNNPACK);
- `float_tflite_xnnpack`: the float flatbuffer in `tf.lite.Interpreter` (XNNPACK);
- `keras`: the Keras model, `model(x, training=False)` inside a `tf.function`.

Each thread count runs in its own worker process, because TensorFlow's thread pools are
fixed once its runtime starts.

!!! example
    ```bash
    python bench/export_latency.py --threads 1 2 --rounds 5 --paddings lce pytorch
    ```
"""

# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import adambnn_tf  # noqa: F401  (selects tf-keras)
import numpy as np
import tensorflow as tf

INPUT_SHAPE = (224, 224, 3)


def _model(padding: str) -> tf.keras.Model:
    from adambnn_tf.zoo import ReActNetA

    return ReActNetA(input_shape=INPUT_SHAPE, stage=2, padding=padding, classifier_activation=None)


def convert(workdir: str, paddings: list[str], seed: int) -> dict:
    """Builds, converts and saves every contestant; returns sizes, times and op counts."""
    from adambnn_tf.export import export
    from adambnn_tf.export.float_reference import float_tflite

    results = {}
    for padding in paddings:
        tf.keras.utils.set_random_seed(seed)
        model = _model(padding)
        model.save_weights(os.path.join(workdir, f"{padding}.h5"))
        report = export(
            model,
            os.path.join(workdir, f"{padding}.tflite"),
            parity=False,
            compare_float_size=False,
        )
        results[padding] = {
            "conversion_s": report.conversion_seconds,
            "size_bytes": report.size_bytes,
            "binary_conv_layers": len(report.binary_convs),
            "accelerated": sum(s.accelerated for s in report.binary_convs),
            "lce_bconv2d": report.n_lce_bconv,
            "rewritten_layers": report.rewritten_layers,
            "op_counts": dict(report.op_counts),
        }
        print(report.summary(), flush=True)
    tf.keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    flatbuffer = float_tflite(_model(paddings[0]))
    results["float"] = {
        "conversion_s": time.perf_counter() - start,
        "size_bytes": len(flatbuffer),
    }
    with open(os.path.join(workdir, "float.tflite"), "wb") as stream:
        stream.write(flatbuffer)
    return results


def worker(workdir: str, paddings: list[str], threads: int, rounds: int) -> dict:
    """Measures every contestant with `threads` threads, interleaved; returns ms lists."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    image = np.random.default_rng(0).standard_normal((1, *INPUT_SHAPE)).astype(np.float32)

    def read(name: str) -> bytes:
        with open(os.path.join(workdir, name), "rb") as stream:
            return stream.read()

    contestants = {}
    for padding in paddings:
        interpreter = Interpreter(read(f"{padding}.tflite"), num_threads=threads)
        contestants[f"lce[{padding}]"] = lambda i=interpreter: i.predict(image)
    float_bytes = read("float.tflite")
    float_lce = Interpreter(float_bytes, num_threads=threads)
    contestants["float_lce_interp"] = lambda: float_lce.predict(image)
    float_tflite = tf.lite.Interpreter(model_content=float_bytes, num_threads=threads)
    float_tflite.allocate_tensors()
    input_index = float_tflite.get_input_details()[0]["index"]
    output_index = float_tflite.get_output_details()[0]["index"]

    def run_float_tflite():
        float_tflite.set_tensor(input_index, image)
        float_tflite.invoke()
        return float_tflite.get_tensor(output_index)

    contestants["float_tflite_xnnpack"] = run_float_tflite
    model = _model(paddings[0])
    model.load_weights(os.path.join(workdir, f"{paddings[0]}.h5"))
    keras_call = tf.function(lambda x: model(x, training=False))
    contestants["keras"] = lambda: keras_call(tf.constant(image)).numpy()

    for run in contestants.values():  # warm-up: allocation, tracing, first-touch
        run()
    timings = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, run in contestants.items():
            start = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - start) * 1e3)
    return timings


def _worker_main(args) -> None:
    tf.config.threading.set_intra_op_parallelism_threads(args.worker_threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.worker_threads)
    timings = worker(args.workdir, args.paddings, args.worker_threads, args.rounds)
    print("RESULT " + json.dumps(timings), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paddings", nargs="+", default=["lce"], choices=["lce", "pytorch"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="keep the converted files here (default: temporary)")
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_threads:
        _worker_main(args)
        return
    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.workdir or temporary
        os.makedirs(workdir, exist_ok=True)
        conversions = convert(workdir, args.paddings, args.seed)
        latencies = {}
        for threads in args.threads:
            command = [sys.executable, __file__, "--workdir", workdir, "--rounds"]
            command += [str(args.rounds), "--worker-threads", str(threads), "--paddings"]
            output = subprocess.run(
                command + args.paddings, check=True, capture_output=True, text=True
            ).stdout
            line = next(x for x in output.splitlines() if x.startswith("RESULT "))
            latencies[threads] = json.loads(line[len("RESULT ") :])
    print(json.dumps({"conversions": conversions}, indent=2))
    float_size = conversions["float"]["size_bytes"]
    print("\n| model | conversion (s) | size (MB) | float size / size |")
    print("|---|---|---|---|")
    for name, result in conversions.items():
        ratio = float_size / result["size_bytes"]
        print(
            f"| {name} | {result['conversion_s']:.1f} | {result['size_bytes'] / 1e6:.2f} "
            f"| {ratio:.1f} |"
        )
    print("\n| contestant | threads | median ms | min ms | median / lce[first] |")
    print("|---|---|---|---|---|")
    for threads, timings in latencies.items():
        reference = float(np.median(timings[f"lce[{args.paddings[0]}]"]))
        for name, values in timings.items():
            median = float(np.median(values))
            print(
                f"| {name} | {threads} | {median:.1f} | {min(values):.1f} "
                f"| {median / reference:.2f} |"
            )


if __name__ == "__main__":
    main()
