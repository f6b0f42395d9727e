"""Reading TFLite / Larq Compute Engine flatbuffers: which operators a model runs."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.python import schema_util

__all__ = [
    "Operator",
    "constant_tensor",
    "op_counts",
    "operator_names",
    "operators",
    "output_names",
]

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}

_NUMPY_TYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.INT64: np.int64,
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


@dataclasses.dataclass(frozen=True)
class Operator:
    """One node of a `.tflite` main subgraph.

    # Attributes
        index: position in execution order.
        name: operator name as in `operator_names`.
        inputs: tensor indices of the inputs (-1 for an omitted optional input).
        input_names: tensor names of the inputs (`""` for omitted ones).
        output_names: tensor names of the outputs.
    """

    index: int
    name: str
    inputs: tuple[int, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def name_components(self) -> set[str]:
        """The `/`-separated parts of every input and output tensor name.

        The converter names tensors after the TensorFlow ops they came from
        (`model/<layer>/<op>`, fused names joined by `;`, cut to about 50 characters), so
        these parts contain the names of the Keras layers the node computes.
        """
        parts = set()
        for tensor_name in (*self.input_names, *self.output_names):
            for fused in tensor_name.split(";"):
                parts.update(fused.split("/"))
        return parts


def operators(flatbuffer: bytes) -> list[Operator]:
    """Lists the nodes of a `.tflite` model's main subgraph with their tensor names.

    # Arguments
        flatbuffer: the bytes of a `.tflite` model.

    # Returns
        A list of `Operator`, in execution order.
    """
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    subgraph = model.Subgraphs(0)

    def tensor_name(index: int) -> str:
        return "" if index < 0 else subgraph.Tensors(index).Name().decode()

    result = []
    for index, name in enumerate(operator_names(flatbuffer)):
        node = subgraph.Operators(index)
        inputs = tuple(int(node.Inputs(i)) for i in range(node.InputsLength()))
        outputs = [int(node.Outputs(i)) for i in range(node.OutputsLength())]
        result.append(
            Operator(
                index=index,
                name=name,
                inputs=inputs,
                input_names=tuple(tensor_name(i) for i in inputs),
                output_names=tuple(tensor_name(i) for i in outputs),
            )
        )
    return result


def constant_tensor(flatbuffer: bytes, tensor_index: int) -> np.ndarray | None:
    """The data of a constant tensor of the main subgraph, or `None` if it has none.

    # Arguments
        flatbuffer: the bytes of a `.tflite` model.
        tensor_index: index of the tensor in the main subgraph.

    # Returns
        The tensor's values with its shape and dtype, or `None` for a non-constant tensor.
    """
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    tensor = model.Subgraphs(0).Tensors(tensor_index)
    data = model.Buffers(tensor.Buffer()).DataAsNumpy()
    if isinstance(data, int) or data.size == 0:
        return None
    dtype = _NUMPY_TYPES.get(tensor.Type())
    if dtype is None:
        return None
    return data.view(dtype).reshape(tensor.ShapeAsNumpy())


def output_names(flatbuffer: bytes) -> list[str]:
    """Names of a model's outputs in the order the interpreter returns them.

    Taken from the `serving_default` signature (the Keras output layer names) when the
    flatbuffer has one, otherwise the output tensor names.

    # Arguments
        flatbuffer: the bytes of a `.tflite` model.

    # Returns
        One name per output of the main subgraph.
    """
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    subgraph = model.Subgraphs(0)
    order = [int(subgraph.Outputs(i)) for i in range(subgraph.OutputsLength())]
    names = {index: subgraph.Tensors(index).Name().decode() for index in order}
    if model.SignatureDefsLength():
        signature = model.SignatureDefs(0)
        for i in range(signature.OutputsLength()):
            entry = signature.Outputs(i)
            names[int(entry.TensorIndex())] = entry.Name().decode()
    return [names[index] for index in order]
