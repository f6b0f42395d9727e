"""Run reports: a run directory in, a Markdown report with PNG plots out.

The run-directory layout is documented in `adambnn_tf.report.layout`.

!!! example
    ```python
    from adambnn_tf.report import write_report

    path = write_report("runs/fashion_mnist")
    ```
"""

from adambnn_tf.report.layout import NotARunDirectoryError, RunData, StageData, read_run
from adambnn_tf.report.recording import StepMetricCSV, save_latent_weights
from adambnn_tf.report.writer import write_report

__all__ = [
    "NotARunDirectoryError",
    "RunData",
    "StageData",
    "StepMetricCSV",
    "read_run",
    "save_latent_weights",
    "write_report",
]
