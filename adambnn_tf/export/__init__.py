"""Export of trained BNNs to Larq Compute Engine flatbuffers (`adambnn_tf.export`).

`export` converts a model to a `.tflite` file for LCE, reports which binary convolutions
became `LceBconv2d` (and why the others did not), compares the file's outputs with Keras
and its size with a float TFLite export.
"""

from adambnn_tf.export.binary_layers import BinaryLayer, find_binary_layers
from adambnn_tf.export.conversion_report import ExportReport, LayerStatus, account_binary_layers
from adambnn_tf.export.flatbuffer import op_counts, operator_names
from adambnn_tf.export.lce import ExportError, export, load_model
from adambnn_tf.export.parity import ParityReport, check_parity, compare_probes
from adambnn_tf.export.sample_images import load_images

__all__ = [
    "BinaryLayer",
    "ExportError",
    "ExportReport",
    "LayerStatus",
    "ParityReport",
    "account_binary_layers",
    "check_parity",
    "compare_probes",
    "export",
    "find_binary_layers",
    "load_images",
    "load_model",
    "op_counts",
    "operator_names",
]
