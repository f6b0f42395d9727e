"""Top-1 accuracy of a model on a dataset split: a Keras model, a saved one, or an LCE `.tflite`.

Shared by the main job (the final model and its export) and `adambnn evaluate`, so that both
check a file before TensorFlow or Larq Compute Engine read it: `check_tflite` refuses a
truncated or corrupt flatbuffer (LCE's interpreter would crash the process on it), and
`load_keras_model` says what a file that is not a loadable Keras model holds instead.

!!! example
    ```python
    images, labels = dataset_arrays(load_dataset("fashion_mnist", "test", batch_size=256).dataset)
    top1(predict("runs/quickstart/export/model.tflite", images), labels)
    ```
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile

import numpy as np
import tensorflow as tf

__all__ = [
    "check_model_file",
    "check_saved_model",
    "check_tflite",
    "dataset_arrays",
    "is_tflite",
    "load_keras_model",
    "predict",
    "top1",
]

_TFLITE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every TFLite flatbuffer (the schema's file_identifier)
_TFLITE_SCHEMA_VERSION = 3
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_KERAS_FORMATS = "an .h5 file or SavedModel folder saved by tf.keras"


def dataset_arrays(dataset: tf.data.Dataset, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of a dataset of `(images, labels)` batches, as arrays.

    # Arguments
        dataset: batches of `(images, labels)`.
        limit: keep the first `limit` examples only (0: all).

    # Returns
        `(images, labels)`.

    # Raises
        ValueError: for a negative `limit`.
    """
    if limit < 0:
        raise ValueError(f"limit must be a number of examples (0 for all), got {limit}.")
    if limit:
        dataset = dataset.unbatch().take(limit).batch(1024)
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


def is_tflite(path: str | os.PathLike) -> bool:
    """Whether `path` names a `.tflite` file, by its name or by the TFLite file identifier.

    # Arguments
        path: a file or folder.

    # Returns
        `True` for a file named `*.tflite` or starting like a TFLite flatbuffer.
    """
    path = os.fspath(path)
    if path.endswith(".tflite"):
        return True
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as stream:
        return stream.read(8)[4:8] == _TFLITE_IDENTIFIER


def _tflite_structure_problem(flatbuffer: bytes) -> str | None:
    """What is wrong with a flatbuffer's structure, or `None`; reading it cannot crash.

    The pure-Python schema reads every table, vector and union of the model (an offset past
    the end raises there instead of reading stray memory), and the indices that link tensors,
    buffers, operators and signatures are checked against the lengths they index.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    if len(flatbuffer) < 8 or flatbuffer[4:8] != _TFLITE_IDENTIFIER:
        return "it does not start like a TFLite flatbuffer (no TFL3 identifier)"
    try:
        model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    except Exception:  # struct.error, IndexError, ValueError: an offset past the end
        return "it is truncated or corrupt: a part of it lies past its end or is unreadable"
    if model.version != _TFLITE_SCHEMA_VERSION:
        return f"its schema version is {model.version}, not {_TFLITE_SCHEMA_VERSION}"
    buffers, codes = model.buffers or [], model.operatorCodes or []
    if not model.subgraphs:
        return "it has no subgraph"
    for buffer in buffers:
        if (
            buffer is not None
            and buffer.offset > 1
            and buffer.offset + buffer.size > len(flatbuffer)
        ):
            return "a buffer lies past the end of the file"
    for subgraph in model.subgraphs:
        if subgraph is None:
            return "a subgraph is empty"
        tensors = subgraph.tensors or []
        if any(t is None or not 0 <= t.buffer < max(len(buffers), 1) for t in tensors):
            return "a tensor names a buffer that does not exist"
        ends = [*_indices(subgraph.inputs), *_indices(subgraph.outputs)]
        if any(not 0 <= index < len(tensors) for index in ends):
            return "a subgraph input or output names a tensor that does not exist"
        for operator in subgraph.operators or []:
            if operator is None or not 0 <= operator.opcodeIndex < len(codes):
                return "an operator names an operator code that does not exist"
            linked = [*_indices(operator.inputs), *_indices(operator.outputs)]
            linked += _indices(operator.intermediates)
            if any(not -1 <= index < len(tensors) for index in linked):
                return "an operator names a tensor that does not exist"
    for signature in model.signatureDefs or []:
        if signature is None or not 0 <= signature.subgraphIndex < len(model.subgraphs):
            return "a signature names a subgraph that does not exist"
        tensors = model.subgraphs[signature.subgraphIndex].tensors or []
        for entry in [*(signature.inputs or []), *(signature.outputs or [])]:
            if entry is None or not 0 <= entry.tensorIndex < len(tensors):
                return "a signature names a tensor that does not exist"
    return None


def _indices(values) -> list[int]:
    return [] if values is None else [int(value) for value in values]


def _tensorflow_verifier_problem(flatbuffer: bytes) -> str | None:
    """What TensorFlow's flatbuffer verifier finds wrong, or `None`.

    `tf.lite.Interpreter` verifies a buffer before it builds anything from it (LCE's does
    not) and builds without resolving operators, so LCE's custom operators pass.
    """
    interpreter = getattr(tf.lite, "Interpreter", None)
    if interpreter is None:  # gone from TensorFlow after 2.19; the structural check remains
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice
        try:
            interpreter(
                model_content=flatbuffer,
                experimental_op_resolver_type=(
                    tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                ),
            )
        except ValueError as error:
            if "not a valid flatbuffer" in str(error).lower():
                return "TensorFlow's flatbuffer verifier refuses it"
    return None


def check_tflite(flatbuffer: bytes, source: str = "the flatbuffer") -> None:
    """Refuses bytes that are not a complete, consistent TFLite flatbuffer.

    Larq Compute Engine's interpreter reads a flatbuffer without verifying it, so a truncated
    or corrupt `.tflite` kills the process with a segmentation fault instead of raising. This
    check reads the whole model with the pure-Python TFLite schema, checks the indices that
    link its parts, and runs TensorFlow's flatbuffer verifier; none of them can crash.

    !!! example
        ```python
        with open("model.tflite", "rb") as stream:
            check_tflite(stream.read(), "model.tflite")
        ```

    # Arguments
        flatbuffer: the bytes of a `.tflite` file.
        source: the file's name, for the message.

    # Raises
        ValueError: when the bytes are not a valid flatbuffer; the message says what is wrong.
    """
    problem = _tflite_structure_problem(flatbuffer) or _tensorflow_verifier_problem(flatbuffer)
    if problem:
        raise ValueError(
            f"{source} is not a valid .tflite model: {problem} (export it again, e.g. with "
            "`adambnn export MODEL OUT.tflite`)"
        )


def _keras_zip_problem(path: str) -> str | None:
    """Why a `.keras` zip cannot be loaded here (a Keras 3 file, a broken zip), or `None`."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as error:
        return f"{path} is a damaged zip archive: {error} (save the model again)"
    version = str(metadata.get("keras_version", "")) if isinstance(metadata, dict) else ""
    if version.startswith("3"):
        return (
            f"{path} was saved by Keras {version} (a Keras 3 .keras archive), which tf.keras "
            "(Keras 2, what Larq needs) cannot load (save the model with tf.keras as .h5 or a "
            "SavedModel folder, or rebuild it with adambnn_tf.zoo and load its weights)"
        )
    return None


def _hdf5_problem(path: str) -> str | None:
    """Why an HDF5 file is not a loadable Keras model (weights only, unreadable), or `None`."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            if "model_config" in file.attrs:
                return None
            weights_only = "layer_names" in file.attrs or "model_weights" in file
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        return f"{path} is a truncated or damaged HDF5 file: {reason} (save the model again)"
    if weights_only:
        return (
            f"{path} holds weights only, no model: it was written by save_weights (build the "
            "model and load them with the zoo model's weights=, e.g. "
            "adambnn_tf.zoo.ReActNetA(weights=PATH, ...), then save it whole with model.save)"
        )
    return f"{path} is an HDF5 file without a Keras model in it (give {_KERAS_FORMATS})"


def check_saved_model(path: str | os.PathLike) -> None:
    """Refuses a path that does not hold a Keras model tf.keras can load, saying what it holds.

    # Arguments
        path: an `.h5` file, a `.keras` file of tf.keras, or a SavedModel folder.

    # Raises
        FileNotFoundError: if `path` does not exist.
        ValueError: for a folder that is not a SavedModel, a weights-only `.h5`, a Keras 3
            `.keras` archive, a `.tflite` file, or any other file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist (give {_KERAS_FORMATS})")
    if os.path.isdir(path):
        if not any(
            os.path.isfile(os.path.join(path, name))
            for name in ("saved_model.pb", "saved_model.pbtxt")
        ):
            raise ValueError(
                f"{path} is a folder but not a SavedModel: it has no saved_model.pb (give "
                f"{_KERAS_FORMATS})"
            )
        return
    with open(path, "rb") as stream:
        head = stream.read(8)
    import h5py

    if head == _HDF5_SIGNATURE or h5py.is_hdf5(path):  # an HDF5 user block moves the signature
        problem = _hdf5_problem(path)
    elif head.startswith(_ZIP_SIGNATURE):
        problem = _keras_zip_problem(path)
    elif head[4:8] == _TFLITE_IDENTIFIER:
        problem = f"{path} is a TFLite flatbuffer, not a Keras model (give {_KERAS_FORMATS})"
    else:
        problem = (
            f"{path} is not a saved Keras model: it is neither HDF5 nor a zip archive (give "
            f"{_KERAS_FORMATS})"
        )
    if problem:
        raise ValueError(problem)


def load_keras_model(path: str | os.PathLike, custom_objects: dict | None = None) -> tf.keras.Model:
    """Loads a saved Keras model, uncompiled, after `check_saved_model`.

    # Arguments
        path: an `.h5` file, a tf.keras `.keras` file or a SavedModel folder.
        custom_objects: extra custom objects (this plugin's, its zoo's and Larq's are
            registered).

    # Returns
        The model.

    # Raises
        FileNotFoundError: if `path` does not exist.
        ValueError: for a file that is not a loadable Keras model (the message says what it is).
    """
    path = os.fspath(path)
    check_saved_model(path)
    try:
        return tf.keras.models.load_model(path, custom_objects=custom_objects, compile=False)
    except Exception as error:  # h5py, protobuf and Keras raise many kinds for a bad file
        raise ValueError(
            f"Cannot load {path} as a Keras model: {type(error).__name__}: "
            f"{' '.join(str(error).split())} (give {_KERAS_FORMATS}, with this plugin's and "
            "Larq's layers or the custom objects it needs)"
        ) from error


def check_model_file(path: str | os.PathLike) -> None:
    """Refuses a path that is neither a valid `.tflite` nor a loadable saved Keras model.

    Cheap next to loading: a `.tflite` is read and checked (`check_tflite`), a Keras file or
    folder inspected (`check_saved_model`), so that a command can fail before it reads data.

    # Arguments
        path: a `.tflite` file, an `.h5` file, a tf.keras `.keras` file or a SavedModel folder.

    # Raises
        FileNotFoundError: if `path` does not exist.
        ValueError: for anything else than a valid model file (the message says what it is).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist (give a .tflite, .h5 or SavedModel path)")
    if not is_tflite(path):
        check_saved_model(path)
        return
    if not os.path.isfile(path):
        raise ValueError(f"{path} is a folder, not a .tflite file (give the file)")
    with open(path, "rb") as stream:
        check_tflite(stream.read(), path)


def predict(model: tf.keras.Model | str, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The outputs of a model for a batch of images.

    # Arguments
        model: a Keras model, a saved Keras model (`.h5` or SavedModel folder), or a `.tflite`
            file (run with Larq Compute Engine's interpreter, one image at a time, once
            `check_tflite` has passed it).
        images: the preprocessed images.
        batch_size: Keras' batch size.

    # Returns
        One row of outputs (logits or probabilities) per image.

    # Raises
        FileNotFoundError: if a path does not exist.
        ValueError: for a file that is not a valid `.tflite` or loadable Keras model.
    """
    if isinstance(model, tf.keras.Model):
        return model.predict(images, batch_size=batch_size, verbose=0)
    path = os.fspath(model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist (give a .tflite, .h5 or SavedModel path)")
    if is_tflite(path):
        if not os.path.isfile(path):
            raise ValueError(f"{path} is a folder, not a .tflite file (give the file)")
        from larq_compute_engine.tflite.python.interpreter import Interpreter

        with open(path, "rb") as file:
            flatbuffer = file.read()
        check_tflite(flatbuffer, path)
        return Interpreter(flatbuffer, num_threads=os.cpu_count() or 1).predict(images)
    loaded = load_keras_model(path)
    return loaded.predict(images, batch_size=batch_size, verbose=0)


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The share of rows whose largest output is at the label.

    # Arguments
        outputs: `(examples, classes)` logits or probabilities.
        labels: `(examples,)` integer labels.

    # Returns
        The top-1 accuracy in [0, 1].
    """
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))
