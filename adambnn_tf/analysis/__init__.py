"""The paper's visual analyses as tools (`adambnn analyze`).

- `landscape`: the loss landscape of a trained BNN and of its float twin around the same
  weights (Li et al.'s filter-normalised directions), with measured steepness;
  `run_landscape.landscape_of_run` draws it for a finished `adambnn train` run.
- `toy`: the paper's two-node network, the forward and backward loss surfaces, and SGD
  stalling in a zero-gradient region that Adam crosses.

Helpers: `directions` (filter normalisation), `curvature` (Hessian eigenvalue by power
iteration), `twin` (the `binary=False` float twin at a BNN's weights), `figures` (the PNGs).

!!! example
    ```python
    from adambnn_tf.analysis import landscape_of_run, write_toy

    result = landscape_of_run("runs/quickstart")  # runs/quickstart/analysis/landscape.png
    write_toy("figures")  # figures/toy.png, figures/toy.json
    ```
"""

from adambnn_tf.analysis.directions import filter_normalize, random_directions
from adambnn_tf.analysis.landscape import LandscapeComparison, LossSurface, compare_landscapes
from adambnn_tf.analysis.run_landscape import RunLandscape, landscape_of_run, landscape_paths
from adambnn_tf.analysis.toy import ToyNetwork, ToyResult, run_toy, write_toy
from adambnn_tf.analysis.twin import float_twin, recalibrate_batch_norm

__all__ = [
    "LandscapeComparison",
    "LossSurface",
    "RunLandscape",
    "ToyNetwork",
    "ToyResult",
    "compare_landscapes",
    "filter_normalize",
    "float_twin",
    "landscape_of_run",
    "landscape_paths",
    "random_directions",
    "recalibrate_batch_norm",
    "run_toy",
    "write_toy",
]
