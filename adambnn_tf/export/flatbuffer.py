"""Reading TFLite / Larq Compute Engine flatbuffers: which operators a model runs."""

from __future__ import annotations

import collections

from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.python import schema_util

__all__ = ["op_counts", "operator_names"]

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}


def operator_names(flatbuffer: bytes) -> list[str]:
    """Returns the operator of every node of the main subgraph, in execution order.

    Builtin operators are named as in the TFLite schema (`CONV_2D`, `ADD`, ...); custom
    operators by their custom code (`LceBconv2d`, `LceQuantize`, ...).

    !!! example
        ```python
        names = operator_names(lce.convert_keras_model(model))
        ```

    # Arguments
        flatbuffer: the bytes of a `.tflite` model.

    # Returns
        A list of operator names.
    """
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    subgraph = model.Subgraphs(0)
    names = []
    for index in range(subgraph.OperatorsLength()):
        code = model.OperatorCodes(subgraph.Operators(index).OpcodeIndex())
        builtin = schema_util.get_builtin_code_from_operator_code(code)
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append(code.CustomCode().decode())
        else:
            names.append(_BUILTIN_NAMES[builtin])
    return names


def op_counts(flatbuffer: bytes) -> collections.Counter:
    """Counts the operators of a `.tflite` model's main subgraph by name.

    # Arguments
        flatbuffer: the bytes of a `.tflite` model.

    # Returns
        A `collections.Counter` from operator name to count.
    """
    return collections.Counter(operator_names(flatbuffer))
