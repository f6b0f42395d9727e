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

__all__ = [
    "ANALYSIS_FOLDER",
    "LANDSCAPE_FIGURE",
    "LANDSCAPE_JSON",
    "RunLandscape",
    "landscape_of_run",
    "landscape_paths",
]

ANALYSIS_FOLDER = "analysis"
LANDSCAPE_FIGURE = "landscape.png"
LANDSCAPE_JSON = "landscape.json"
RUN_CONFIG = "run.json"
FINAL_MODEL = "final_model.h5"


def landscape_paths(run_dir: str | os.PathLike) -> tuple[str, str]:
    """The landscape's figure and JSON file of a run directory."""
    folder = os.path.join(os.fspath(run_dir), ANALYSIS_FOLDER)
    return os.path.join(folder, LANDSCAPE_FIGURE), os.path.join(folder, LANDSCAPE_JSON)


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


def _check_run_directory(run_dir: str) -> None:
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
    progress: Callable[[str], None] | None = None,
) -> RunLandscape:
    """Draws the landscapes of a run's final BNN and of its float twin and writes them.

    # Arguments
        run_dir: the run directory of `adambnn train` (with `run.json` and `final_model.h5`).
        grid: points per axis (odd, at least 3); the cost grows with its square.
        radius: the plane spans `[-radius, radius]^2` in filter-normalised units.
        examples: the first `examples` training images make the loss.
        probe_radius: the radius of the steepness circle.
        hessian_iterations: power-iteration steps for the Hessian eigenvalues (0: skip).
        batch_size: examples per forward pass.
        seed: the seed of the directions.
        progress: called with lines of progress.

    # Returns
        A `RunLandscape`.

    # Raises
        ValueError: for bad settings, a configuration or model file that cannot be read, a
            final model without binary layers, or one that does not fit the configuration.
        FileNotFoundError: for a missing run directory, `run.json`, `final_model.h5` or
            dataset files.
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
    twin = float_twin(config.model, bnn)
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
        progress=progress,
    )
    comparison.settings.update(
        {
            "run_dir": os.path.abspath(run_dir),
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
