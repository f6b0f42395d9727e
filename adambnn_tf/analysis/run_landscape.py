"""The loss landscape of a finished `adambnn train` run: `RUN_DIR/analysis/landscape.*`.

Reads the run's configuration (`run.json`) and final model (`final_model.h5`), builds the
float twin of the configured model at the final model's latent weights, takes the first
`examples` images of the run's training split (file order, no augmentation; the validation
images the run held out stay out), draws both landscapes
(`adambnn_tf.analysis.landscape.compare_landscapes`) and writes

| file | what |
|---|---|
| `RUN_DIR/analysis/landscape.png` | contour and 3-D surface of the BNN and of its float twin |
| `RUN_DIR/analysis/landscape.json` | settings, both loss grids, the steepness numbers |

each atomically. Every input is checked before anything is computed or written.

!!! example
    ```python
    result = landscape_of_run("runs/quickstart", grid=11, examples=256)
    print(result.comparison.bnn.rise_at_probe_radius, result.figure)
    ```
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

from adambnn_tf._files import write_atomically
from adambnn_tf.analysis.landscape import LandscapeComparison, check_landscape_options
from adambnn_tf.report.layout import ANALYSIS_FOLDER, FINAL_MODEL, RUN_CONFIG, landscape_paths

__all__ = [
    "RunLandscape",
    "landscape_of_run",
    "landscape_paths",
]

TWIN_MUST_MATCH = ("name", "width_multiplier", "padding")
"""The model settings a trained twin's run shares with the BNN's (binary aside)."""


@dataclasses.dataclass
class RunLandscape:
    """A run's landscape and where it was written.

    # Attributes
        comparison: the BNN's and the float twin's surfaces.
        figure: the PNG file.
        numbers: the JSON file.
    """

    comparison: LandscapeComparison
    figure: str
    numbers: str


def _check_finished_run(run_dir: str) -> None:
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(
            f"{run_dir} is not a run directory (no such folder); give the --output-dir of an "
            "`adambnn train` run."
        )
    if not os.path.isfile(os.path.join(run_dir, RUN_CONFIG)):
        raise FileNotFoundError(
            f"{run_dir} has no {RUN_CONFIG}: it is not the folder of an `adambnn train` run."
        )
    if not os.path.isfile(os.path.join(run_dir, FINAL_MODEL)):
        raise FileNotFoundError(
            f"{run_dir} has no {FINAL_MODEL}: the run has not finished (`adambnn train` writes "
            "it after the last stage; run it again to resume)."
        )


def _check_run_directory(run_dir: str) -> None:
    _check_finished_run(run_dir)
    folder = os.path.join(run_dir, ANALYSIS_FOLDER)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise FileExistsError(f"{folder} is a file; the analysis needs that name for a folder.")
    for path in landscape_paths(run_dir):
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a folder; the analysis writes a file there.")


def _training_images(config, examples: int):
    from adambnn_tf.data import load_dataset
    from adambnn_tf.evaluation import dataset_arrays

    data = config.data
    loaded = load_dataset(
        data.dataset,
        "train",
        batch_size=min(examples, 1024),
        data_dir=data.data_dir,
        augment=False,
        shuffle=False,
        repeat=False,
        drop_remainder=False,
        imagenet_pipeline=data.imagenet_pipeline,
        validation_examples=data.validation_examples,
    )
    return dataset_arrays(loaded.dataset, limit=examples)


def _trained_twin(twin_run: str, config):
    """The final model of a float twin's run, checked against the BNN run's `config`."""
    from adambnn_tf.analysis.twin import binary_layers
    from adambnn_tf.config import RunConfig
    from adambnn_tf.evaluation import load_keras_model

    _check_finished_run(twin_run)
    twin_config = RunConfig.load(os.path.join(twin_run, RUN_CONFIG))
    twin_model = load_keras_model(os.path.join(twin_run, FINAL_MODEL))
    if binary_layers(twin_model):
        raise ValueError(
            f"{os.path.join(twin_run, FINAL_MODEL)} has binary layers: the twin run must train "
            "the float twin (`adambnn train --float-twin`, model.binary=false)."
        )
    differences = [
        f"model.{name}: {getattr(twin_config.model, name)!r} (BNN run: "
        f"{getattr(config.model, name)!r})"
        for name in TWIN_MUST_MATCH
        if getattr(twin_config.model, name) != getattr(config.model, name)
    ]
    if twin_config.data.dataset != config.data.dataset:
        differences.append(
            f"data.dataset: {twin_config.data.dataset!r} (BNN run: {config.data.dataset!r})"
        )
    if differences:
        raise ValueError(
            f"the twin run {twin_run} is not this BNN's float twin: "
            + "; ".join(differences)
            + ". Train it with the BNN run's configuration and --float-twin."
        )
    return twin_model


def landscape_of_run(
    run_dir: str | os.PathLike,
    *,
    grid: int = 11,
    radius: float = 1.0,
    examples: int = 256,
    probe_radius: float = 0.25,
    hessian_iterations: int = 8,
    batch_size: int = 256,
    seed: int = 0,
    twin_run: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunLandscape:
    """Draws the landscapes of a run's final BNN and of its float twin and writes them.

    The float twin is the BNN's latent weights in the real-valued network, or, with
    `twin_run`, the final model of a float twin trained on its own (`adambnn train
    --float-twin`, otherwise the BNN run's model and dataset): the paper's comparison of two
    trained networks, each drawn around its own weights.

    # Arguments
        run_dir: the run directory of `adambnn train` (with `run.json` and `final_model.h5`).
        grid: points per axis (odd, at least 3); the cost grows with its square.
        radius: the plane spans `[-radius, radius]^2` in filter-normalised units.
        examples: the first `examples` training images make the loss.
        probe_radius: the radius of the steepness circle.
        hessian_iterations: power-iteration steps for the Hessian eigenvalues (0: skip).
        batch_size: examples per forward pass.
        seed: the seed of the directions.
        twin_run: the run directory of the trained float twin, or `None`.
        progress: called with lines of progress.

    # Returns
        A `RunLandscape`.

    # Raises
        ValueError: for bad settings, a configuration or model file that cannot be read, a
            final model without binary layers, or one that does not fit the configuration;
            a twin run whose model has binary layers, or another model or dataset.
        FileNotFoundError: for a missing run directory, `run.json`, `final_model.h5` or
            dataset files (of either run).
        FileExistsError, IsADirectoryError: when the output paths are taken by a file or a
            folder.
    """
    from adambnn_tf.analysis.figures import plot_landscapes
    from adambnn_tf.analysis.landscape import compare_landscapes
    from adambnn_tf.analysis.twin import binary_layers, float_twin
    from adambnn_tf.config import RunConfig
    from adambnn_tf.evaluation import load_keras_model

    run_dir = os.fspath(run_dir)
    check_landscape_options(
        grid=grid,
        radius=radius,
        probe_radius=probe_radius,
        hessian_iterations=hessian_iterations,
        batch_size=batch_size,
        examples=examples,
    )
    _check_run_directory(run_dir)
    config = RunConfig.load(os.path.join(run_dir, RUN_CONFIG))
    bnn = load_keras_model(os.path.join(run_dir, FINAL_MODEL))
    if not binary_layers(bnn):
        raise ValueError(
            f"{os.path.join(run_dir, FINAL_MODEL)} has no binary layers (no 1-bit Larq "
            "quantizer): the landscape compares a BNN with its float twin."
        )
    if twin_run is None:
        twin = float_twin(config.model, bnn)
    else:
        twin = _trained_twin(os.fspath(twin_run), config)
    images, labels = _training_images(config, examples)
    comparison = compare_landscapes(
        bnn,
        twin,
        images,
        labels,
        grid=grid,
        radius=radius,
        probe_radius=probe_radius,
        hessian_iterations=hessian_iterations,
        batch_size=batch_size,
        seed=seed,
        twin_trained=twin_run is not None,
        progress=progress,
    )
    comparison.settings.update(
        {
            "run_dir": os.path.abspath(run_dir),
            "twin_run": None if twin_run is None else os.path.abspath(twin_run),
            "model": config.model.name,
            "dataset": config.data.dataset,
            "images": f"the first {len(images)} images of the run's training split, file "
            "order, no augmentation",
        }
    )
    figure, numbers = landscape_paths(run_dir)
    plot_landscapes(comparison, figure)
    write_atomically(numbers, json.dumps(comparison.summary(), indent=2) + "\n")
    return RunLandscape(comparison=comparison, figure=figure, numbers=numbers)
