"""Ships a finished run's model as named pretrained weights in the package (issue 18).

Takes the run directory of `adambnn train` (its `run.json`, `results.json` and
`final_model.h5`), writes the weights of the zoo model it trained to
`zoo/weights/<model>_<name>.h5`, and records the file in `zoo/weights/manifest.json`: the
registry entry (SHA-256, the configuration it fits) and the model card, measured here through
the path a user takes (`ReActNetACompact(weights=name)` via the registry, then Larq Compute
Engine): test top-1 of Keras and of the `.tflite` on the whole test split, parameters, binary
parameters, file sizes, and the run's validation accuracy, training minutes and settings.

!!! example
    ```bash
    python bench/ship_pretrained.py runs/fashion_mnist_seed0 --name fashion_mnist \\
        --command "adambnn train --recipe fashion-mnist --seed 0 --output-dir runs/..."
    ```
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile

import numpy as np
from _machine import cpu_description  # beside this script
from _runs import train_command_config  # beside this script

import adambnn_tf  # noqa: F401  (selects tf-keras before TensorFlow is imported)
from adambnn_tf._files import write_atomically
from adambnn_tf.config import RunConfig
from adambnn_tf.quantizers import is_latent_weight
from adambnn_tf.zoo import _registry


def _zoo_model_with_run_weights(run_dir: str, config: RunConfig):
    """The zoo model the run trained (stage 2, probabilities out) with its final weights."""
    from adambnn_tf.evaluation import load_keras_model
    from adambnn_tf.main_job import build_zoo_model

    trained = load_keras_model(os.path.join(run_dir, "final_model.h5"))
    shape = tuple(trained.input_shape[1:])
    model = build_zoo_model(config.model, 2, shape, trained.output_shape[-1])
    model.set_weights(trained.get_weights())
    return model


def _test_split(config: RunConfig):
    from adambnn_tf.data import load_dataset
    from adambnn_tf.evaluation import dataset_arrays

    data = load_dataset(config.data.dataset, "test", batch_size=256, data_dir=config.data.data_dir)
    return dataset_arrays(data.dataset)


def model_card(model, images: np.ndarray, labels: np.ndarray, weights_file: str) -> dict:
    """Accuracy (Keras and LCE) on the test split, parameters and sizes of a shipped model.

    # Arguments
        model: the model built through the registry (`weights=<name>`).
        images: the preprocessed test images.
        labels: their labels.
        weights_file: the shipped weights file.

    # Returns
        The card's measured fields.
    """
    from adambnn_tf.evaluation import predict, top1
    from adambnn_tf.export import export

    with tempfile.TemporaryDirectory() as folder:
        tflite = os.path.join(folder, "model.tflite")
        report = export(model, tflite, strict=True, compare_float_size=False)
        tflite_top1 = top1(predict(tflite, images), labels)
        tflite_bytes = os.path.getsize(tflite)
    return {
        "test_top1_keras": top1(predict(model, images), labels),
        "test_top1_lce": tflite_top1,
        "test_images": int(len(labels)),
        "parameters": int(model.count_params()),
        "binary_parameters": int(
            sum(np.prod(v.shape) for v in model.trainable_weights if is_latent_weight(v))
        ),
        "keras_file_bytes": os.path.getsize(weights_file),
        "tflite_bytes": tflite_bytes,
        "lce_bconv2d": int(report.op_counts.get("LceBconv2d", 0)),
        "binary_convolutions": len(report.binary_convs),
    }


def checked_training_command(command: str, config: RunConfig) -> RunConfig:
    """The configuration an `adambnn train` command gives, checked to train what a run trained.

    The card states the command; this proves it: the command must give the run's `run.json`
    in every setting that changes what is trained (`RunConfig.identity`). Its output directory
    may differ (a path on the campaign's machine is no use to a reader).

    # Arguments
        command: the `adambnn train ...` command, as a shell would split it.
        config: the run's configuration (`run.json`).

    # Returns
        The command's configuration (with its output directory), for the card.

    # Raises
        ValueError: when the command is not `adambnn train`, or trains something else (the
            message names each setting that differs and the run's value).
    """
    given = train_command_config(command)
    run, stated = config.identity(), given.identity()
    differences = [
        f"{key}={stated[key]!r} (the run: {run[key]!r})" for key in run if run[key] != stated[key]
    ]
    if differences:
        raise ValueError(
            "--command does not train what the run trained: "
            + "; ".join(differences)
            + ". Give the run's command (`adambnn train` with the options that give its run.json)."
        )
    return given


def ship(run_dir: str, name: str, command: str, weights_dir: str) -> dict:
    """Writes the weights file and its manifest entry; returns the entry.

    # Arguments
        run_dir: the finished run's directory.
        name: the `weights=` name, e.g. `"fashion_mnist"`.
        command: the command that trained the run, for the card (checked against its
            `run.json`: `checked_training_command`).
        weights_dir: where the package's weights and manifest are.

    # Returns
        The manifest entry.
    """
    from adambnn_tf.cli._pretrained import build_pretrained

    config = RunConfig.load(os.path.join(run_dir, "run.json"))
    stated = checked_training_command(command, config)
    with open(os.path.join(run_dir, "results.json")) as stream:
        results = json.load(stream)
    model = _zoo_model_with_run_weights(run_dir, config)
    file_name = f"{config.model.name}_{name}.h5"
    path = os.path.join(weights_dir, file_name)
    with tempfile.TemporaryDirectory() as folder:
        staged = os.path.join(folder, file_name)
        model.save_weights(staged)
        with open(staged, "rb") as stream:
            data = stream.read()
    write_atomically(path, data)
    entry = {
        "model": config.model.name,
        "name": name,
        "padding": config.model.padding,
        "file_name": file_name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "configuration": {
            "input_shape": list(model.input_shape[1:]),
            "num_classes": int(model.output_shape[-1]),
            "width_multiplier": config.model.width_multiplier,
            "binary": config.model.binary,
        },
    }
    _registry.register_pretrained_weights(
        entry["model"],
        name=name,
        padding=entry["padding"],
        include_top=True,
        url=f"file://{os.path.abspath(path)}",
        sha256=entry["sha256"],
        file_name=file_name,
        configuration=entry["configuration"],
    )
    # Built the way a user builds it: through the registry, the cache and the hash check.
    shipped = build_pretrained(entry["model"], name)
    images, labels = _test_split(config)
    entry["card"] = {
        **model_card(shipped, images, labels, path),
        "validation_top1": results.get("validation_accuracy"),
        "training_minutes": results.get("training_minutes"),
        "dataset": config.data.dataset,
        "preprocessing": "adambnn_tf.data.load_dataset's: images scaled to [0, 1], then "
        "normalized with the training set's mean and standard deviation",
        "command": command,
        "run_config": stated.to_json(),
        "card_measured_on": cpu_description(),
    }
    manifest = os.path.join(weights_dir, "manifest.json")
    entries = []
    if os.path.exists(manifest):
        with open(manifest) as stream:
            entries = json.load(stream)["weights"]
    entries = [e for e in entries if (e["model"], e["name"]) != (entry["model"], name)]
    text = json.dumps({"weights": [*entries, entry]}, indent=2) + "\n"
    write_atomically(manifest, text.encode())
    return entry


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a finished run directory of `adambnn train`")
    parser.add_argument("--name", required=True, help="the weights name, e.g. fashion_mnist")
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument(
        "--weights-dir",
        default=str(_registry.PACKAGED_WEIGHTS_DIR),
        help="the package's weights folder (default: zoo/weights of this checkout)",
    )
    args = parser.parse_args(argv)
    try:
        entry = ship(args.run_dir, args.name, args.command, args.weights_dir)
    except ValueError as error:
        parser.error(str(error))
    card = {k: v for k, v in entry["card"].items() if k != "run_config"}
    print(json.dumps({**{k: v for k, v in entry.items() if k != "card"}, "card": card}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
