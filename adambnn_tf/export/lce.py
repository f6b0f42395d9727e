"""One call from a trained BNN to a checked Larq Compute Engine `.tflite` file."""

from __future__ import annotations

import math
import os
import time

import larq_compute_engine as lce
import numpy as np
import tensorflow as tf

from adambnn_tf._files import write_atomically
from adambnn_tf.evaluation import load_keras_model
from adambnn_tf.export.binary_layers import larq_layers
from adambnn_tf.export.conversion_report import ExportReport, build_report
from adambnn_tf.export.float_reference import float_tflite
from adambnn_tf.export.parity import check_parity
from adambnn_tf.export.sample_images import fashion_mnist_available, load_images
from adambnn_tf.export.symmetric_padding import (
    accelerate_symmetric_padding,
    symmetric_zero_padded_layers,
)
from adambnn_tf.quantizers import RealLatentWeight

__all__ = [
    "ExportError",
    "check_default_int8_range",
    "export",
    "load_model",
    "write_atomically",
]

_IO_TYPES = {"float32": tf.float32, "int8": tf.int8}


class ExportError(RuntimeError):
    """An export that strict mode (or a parity failure) refused; `report` says why.

    # Attributes
        report: the `ExportReport` of the conversion.
    """

    def __init__(self, message: str, report: ExportReport):
        super().__init__(message)
        self.report = report


def load_model(path: str, custom_objects: dict | None = None) -> tf.keras.Model:
    """Loads a Keras model (SavedModel folder, `.h5` or tf.keras `.keras`) for export, uncompiled.

    # Arguments
        path: the saved model.
        custom_objects: extra custom objects (this plugin's and Larq's are registered).

    # Returns
        The model.

    # Raises
        FileNotFoundError: if `path` does not exist.
        ValueError: for a file that is no loadable Keras model: weights only, a Keras 3
            archive, garbage (`adambnn_tf.evaluation.check_saved_model` says which).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"No saved model at {path} (expected a SavedModel folder or .h5).")
    return load_keras_model(path, custom_objects)


def check_default_int8_range(value_range: tuple[float, float] | None) -> None:
    """Refuses an `experimental_default_int8_range` that is not two finite numbers, min < max.

    LCE's converter does not check it: an inverted range gives a negative quantization scale
    and kills the process (segmentation fault) instead of raising.

    # Arguments
        value_range: `(min, max)`, or `None` (no dummy quantization).

    # Raises
        ValueError: for a range that is not two finite numbers with min < max.
    """
    if value_range is None:
        return
    values = tuple(value_range)
    if (
        len(values) != 2
        or not all(isinstance(v, (int, float, np.number)) for v in values)
        or not all(math.isfinite(v) for v in values)
        or not values[0] < values[1]
    ):
        raise ValueError(
            f"experimental_default_int8_range must be two finite numbers (min, max) with "
            f"min < max, got {value_range!r}."
        )


def _refuse_stage1(model: tf.keras.Model) -> None:
    latent = [
        layer.name
        for layer in larq_layers(model)
        if isinstance(getattr(layer, "kernel_quantizer", None), RealLatentWeight)
    ]
    if latent:
        raise ValueError(
            f"This is a stage-1 model: {len(latent)} layer(s) ({', '.join(latent[:3])}"
            f"{', ...' if len(latent) > 3 else ''}) use kernel_quantizer='real_latent_weight', so "
            "their weights are real, not binary, and LCE cannot run them as binary "
            "convolutions. Train stage 2 (kernel_quantizer='scaled_weight_sign', initialised "
            "from this model) and export that."
        )


def _io_type(value) -> tf.DType:
    if isinstance(value, str):
        if value not in _IO_TYPES:
            raise ValueError(f"I/O type must be one of {tuple(_IO_TYPES)}, got {value!r}.")
        return _IO_TYPES[value]
    return tf.as_dtype(value)


def _check_io_types(flatbuffer: bytes, input_type, output_type) -> None:
    """LCE silently keeps float I/O when int8 is asked of a model without int8 quantization."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(flatbuffer)
    got = {
        "input": interpreter.input_types[0],
        "output": interpreter.output_types[0],
    }
    for which, requested in (("input", input_type), ("output", output_type)):
        if _io_type(requested) == tf.int8 and got[which] != np.int8:
            raise ValueError(
                f"int8 {which} was requested, but the converted model's {which} is "
                f"{np.dtype(got[which]).name}: the model has no int8 quantization (no "
                "fake-quant ops). Quantize it (quantization-aware training), or pass "
                "experimental_default_int8_range for a latency-only model, or keep float32 I/O."
            )


def _is_image_model(model: tf.keras.Model) -> bool:
    shape = model.input_shape
    return (
        len(model.inputs) == 1
        and len(shape) == 4
        and all(size is not None for size in shape[1:])
        and shape[-1] in (1, 3)
    )


def export(
    model_or_path: tf.keras.Model | str,
    output_path: str | None = None,
    *,
    target: str = "arm",
    inference_input_type: tf.DType | str = tf.float32,
    inference_output_type: tf.DType | str = tf.float32,
    experimental_default_int8_range: tuple[float, float] | None = None,
    strict: bool = False,
    rewrite_symmetric_padding: bool | None = None,
    parity: bool = True,
    parity_images: str | None = None,
    parity_image_count: int = 8,
    parity_random_samples: int = 4,
    compare_float_size: bool = True,
    custom_objects: dict | None = None,
    data_dir: str | os.PathLike | None = None,
) -> ExportReport:
    """Converts a trained BNN to a Larq Compute Engine `.tflite` file and checks the result.

    Converts with `larq_compute_engine.convert_keras_model`, then reads the flatbuffer back:
    which binary layers became `LceBconv2d` and, for the others, why not; optionally runs
    the parity check (`adambnn_tf.export.parity`) on random inputs and real images, and
    measures a float TFLite export of the same architecture for comparison.

    !!! example
        ```python
        report = adambnn_tf.export.export(model, "reactnet.tflite", strict=True)
        print(report.summary())
        ```

    # Arguments
        model_or_path: a Keras model, or the path of a saved one (SavedModel folder, `.h5`).
        output_path: where to write the `.tflite` file (atomically); `None` not to write it.
        target: `"arm"` (default) or `"xcore"`.
        inference_input_type: `tf.float32` or `tf.int8` (or `"float32"`/`"int8"`).
        inference_output_type: `tf.float32` or `tf.int8`.
        experimental_default_int8_range: `(min, max)`, finite with min < max, for LCE's dummy
            int8 quantization of a model without fake-quant ops; for latency tests only (the
            outputs are not exact).
        strict: refuse (raise `ExportError`, write nothing) when the model has no binary
            convolution, any binary layer is not accelerated, or the parity check finds a
            conversion error.
        rewrite_symmetric_padding: convert binary convolutions with PyTorch's symmetric zero
            padding at stride 2 (`padding="pytorch"` zoo models) through
            `accelerate_symmetric_padding`, an exact rewrite that LCE runs as `LceBconv2d`
            (LCE 0.16 converts the original pattern wrongly). Default: on for `"arm"`, the
            only target with the same-zero padding it needs.
        parity: run the parity check.
        parity_images: real images for the parity check: a folder, `.npz`/`.npy`, an IDX3
            file or `"fashion-mnist"`; by default the offline Fashion-MNIST test images for
            image models with 1 or 3 input channels when found, else random inputs only.
        parity_image_count: how many real images to compare.
        parity_random_samples: how many random inputs to compare.
        compare_float_size: also convert a float clone to report the size ratio.
        custom_objects: extra custom objects for loading `model_or_path`.
        data_dir: the folder of the Fashion-MNIST files for the parity images; by default
            `$ADAMBNN_FASHION_MNIST_DIR`, then Debian's (see
            `adambnn_tf.data.find_fashion_mnist_dir`).

    # Returns
        An `ExportReport`.

    # Raises
        RuntimeError: in graph mode (the LCE converter needs eager execution).
        FileNotFoundError: for a path that does not exist.
        ValueError: for a file that is no loadable Keras model, a stage-1 model (real latent
            weights) or bad options (e.g. an `experimental_default_int8_range` that is not
            min < max, checked before LCE sees it).
        ExportError: in strict mode, when the model has no binary convolution, a binary layer
            is not accelerated, or parity fails.
    """
    check_default_int8_range(experimental_default_int8_range)
    if not tf.executing_eagerly():
        raise RuntimeError(
            "adambnn_tf.export needs eager execution (the LCE converter does not support graph "
            "mode); call it outside tf.function / tf.compat.v1 graph mode."
        )
    model = (
        load_model(model_or_path, custom_objects)
        if isinstance(model_or_path, (str, os.PathLike))
        else model_or_path
    )
    if not isinstance(model, tf.keras.Model):
        raise ValueError(f"Expected a tf.keras.Model or a path, got {type(model).__name__}.")
    _refuse_stage1(model)
    if rewrite_symmetric_padding is None:
        rewrite_symmetric_padding = target == "arm"
    rewritten_layers = symmetric_zero_padded_layers(model) if rewrite_symmetric_padding else []
    converted = accelerate_symmetric_padding(model) if rewritten_layers else model
    start = time.perf_counter()
    flatbuffer = lce.convert_keras_model(
        converted,
        inference_input_type=_io_type(inference_input_type),
        inference_output_type=_io_type(inference_output_type),
        target=target,
        experimental_default_int8_range=experimental_default_int8_range,
    )
    report = build_report(
        converted,
        flatbuffer,
        target=target,
        output_path=None,
        conversion_seconds=time.perf_counter() - start,
    )
    report.rewritten_layers = rewritten_layers
    _check_io_types(flatbuffer, inference_input_type, inference_output_type)
    if strict and not report.binary_convs:
        raise ExportError(
            "Strict export refused: the model has no binary layer (no QuantConv2D with 1-bit "
            f"inputs and weights), so LCE has nothing to accelerate.\n{report.summary()}",
            report,
        )
    if strict and not report.all_accelerated:
        raise ExportError(
            f"Strict export refused: {len(report.not_accelerated)} binary layer(s) are not "
            f"accelerated by LCE.\n{report.summary()}",
            report,
        )
    if parity and experimental_default_int8_range is not None:
        report.notes.append(
            "parity check skipped: experimental_default_int8_range quantizes with dummy "
            "ranges, so the outputs are not meant to match (latency tests only)"
        )
    elif parity:
        images, label = None, None
        if parity_images is not None or (
            _is_image_model(model) and fashion_mnist_available(data_dir)
        ):
            images = load_images(
                parity_images, model.input_shape, parity_image_count, data_dir=data_dir
            )
            label = f"real images ({parity_images or 'fashion-mnist'})"
        report.parity = check_parity(
            model,
            flatbuffer,
            random_samples=parity_random_samples,
            real_images=images,
            real_images_label=label or "real images",
            target=target,
            converted_model=converted,
        )
        if strict and not report.parity.passed:
            raise ExportError(f"Strict export refused: parity failed.\n{report.summary()}", report)
    if compare_float_size:
        report.float_size_bytes = len(float_tflite(model))
    if output_path is not None:
        write_atomically(os.fspath(output_path), flatbuffer)
        report.output_path = os.fspath(output_path)
    return report
