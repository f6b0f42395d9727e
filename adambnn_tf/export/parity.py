"""Does the `.tflite` compute what the Keras model computes? And if not, why not?

The check runs the flatbuffer with LCE's Python interpreter (reference kernels on x86) and
compares it with the Keras model in inference mode, with the tolerance of LCE's own
end-to-end tests (`rtol = atol = 1e-3`; `0.01`/`0.025` for int8 I/O).

A BNN can legitimately miss that tolerance: LCE and TensorFlow sum the real-valued parts in
a different order, so a binarizer input that sits within round-off of its threshold can get
the other sign, and one flipped sign changes every downstream value by a full step. Deep
networks at large inputs meet such values (a ReActNet-A at 224x224 does). When the outputs
disagree, the check therefore converts a *probe* model that also outputs every binarizer
input and compares those layer by layer:

- **round-off flips**: the first binarizer input whose signs differ agrees with Keras
  within tolerance, and every sign that differs there sits within round-off of the
  threshold (`|keras - tflite| <= near_zero * max|keras|`, and the threshold lies between
  the two values); mismatches appear only downstream of it. The conversion is correct.
- **conversion error**: a binarizer input (or the output) disagrees beyond tolerance with
  no round-off flip before it, or a sign differs by more than round-off.
"""

from __future__ import annotations

import dataclasses

import larq_compute_engine as lce
import numpy as np
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from adambnn_tf.export.binary_layers import is_one_bit
from adambnn_tf.export.flatbuffer import output_names

__all__ = [
    "OutputComparison",
    "ParityReport",
    "ProbeComparison",
    "check_parity",
    "compare_probes",
]

EXACT = "exact"
ROUND_OFF = "round-off flips"
CONVERSION_ERROR = "conversion error"
_PROBE_PREFIX = "adambnn_parity_probe_"


@dataclasses.dataclass(frozen=True)
class OutputComparison:
    """LCE against Keras on one set of inputs.

    # Attributes
        inputs: what the inputs were (`"random"`, or the image source).
        samples: number of inputs.
        max_abs_error: largest |keras - tflite| over all outputs.
        output_scale: largest |keras| over all outputs.
        within_tolerance: whether every output is `allclose` at the check's tolerance.
        top1_agreement: fraction of samples with the same arg-max class (for a classifier
            output of shape `(N, classes)`), else `None`.
    """

    inputs: str
    samples: int
    max_abs_error: float
    output_scale: float
    within_tolerance: bool
    top1_agreement: float | None

    def summary(self) -> str:
        """One line."""
        top1 = "" if self.top1_agreement is None else f", top-1 agreement {self.top1_agreement:.1%}"
        verdict = "within tolerance" if self.within_tolerance else "NOT within tolerance"
        return (
            f"{self.inputs} ({self.samples} samples): {verdict}, max |error| "
            f"{self.max_abs_error:.3g} (output scale {self.output_scale:.3g}){top1}"
        )


@dataclasses.dataclass(frozen=True)
class ProbeComparison:
    """LCE against Keras at one binarizer input.

    # Attributes
        layer: the layer whose input binarizer reads this tensor.
        max_abs_error: largest |keras - tflite|.
        scale: largest |keras|.
        within_tolerance: `allclose` at the check's tolerance.
        sign_flips: elements whose binarized value differs.
        round_off_flips: of those, the ones within round-off of the threshold.
    """

    layer: str
    max_abs_error: float
    scale: float
    within_tolerance: bool
    sign_flips: int
    round_off_flips: int


@dataclasses.dataclass
class ParityReport:
    """The parity check of an exported model.

    # Attributes
        verdict: `"exact"` (everything within tolerance), `"round-off flips"` (mismatches
            fully explained by binarizer inputs within round-off of their threshold) or
            `"conversion error"`.
        rtol: relative tolerance used.
        atol: absolute tolerance used.
        comparisons: one `OutputComparison` per input set (random, real images).
        probes: the layer-by-layer comparison, when the outputs disagreed.
        explanation: a sentence on how the verdict was reached.
    """

    verdict: str
    rtol: float
    atol: float
    comparisons: list[OutputComparison]
    probes: list[ProbeComparison] | None = None
    explanation: str = ""

    @property
    def passed(self) -> bool:
        """`True` unless the check found a conversion error."""
        return self.verdict != CONVERSION_ERROR

    def summary(self) -> str:
        """A multi-line summary."""
        lines = [
            f"parity (LCE interpreter vs Keras, rtol={self.rtol:g}, atol={self.atol:g}): "
            f"{'PASSED' if self.passed else 'FAILED'}, {self.verdict}"
        ]
        lines.extend("  " + comparison.summary() for comparison in self.comparisons)
        if self.explanation:
            lines.append("  " + self.explanation)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-serialisable dictionary."""
        return {
            **{key: getattr(self, key) for key in ("verdict", "rtol", "atol", "explanation")},
            "passed": self.passed,
            "comparisons": [dataclasses.asdict(c) for c in self.comparisons],
            "probes": None if self.probes is None else [dataclasses.asdict(p) for p in self.probes],
        }


def _as_list(values) -> list[np.ndarray]:
    return [np.asarray(v) for v in values] if isinstance(values, (list, tuple)) else [values]


def _keras_predict(model: tf.keras.Model, inputs: np.ndarray, batch_size: int = 8) -> list:
    batches = [
        _as_list(model(inputs[start : start + batch_size], training=False))
        for start in range(0, len(inputs), batch_size)
    ]
    return [np.concatenate([np.asarray(b[i]) for b in batches]) for i in range(len(batches[0]))]


def _lce_predict(interpreter: Interpreter, inputs: np.ndarray) -> list[np.ndarray]:
    """Runs the interpreter, quantizing int8 inputs and dequantizing int8 outputs."""
    if interpreter.input_types[0] == np.int8:
        scale, zero_point = interpreter.input_scales[0], interpreter.input_zero_points[0]
        inputs = np.clip(np.round(inputs / scale + zero_point), -128, 127).astype(np.int8)
    outputs = _as_list(interpreter.predict(inputs))
    result = []
    for i, output in enumerate(outputs):
        if interpreter.output_types[i] == np.int8:
            scale, zero_point = interpreter.output_scales[i], interpreter.output_zero_points[i]
            output = (output.astype(np.float32) - zero_point) * scale
        result.append(np.asarray(output, dtype=np.float32))
    return result


def _top1_agreement(expected: np.ndarray, actual: np.ndarray) -> float | None:
    if expected.ndim != 2 or expected.shape[-1] < 2:
        return None
    return float(np.mean(expected.argmax(-1) == actual.argmax(-1)))


def _compare_outputs(
    label: str, expected: list, actual: list, rtol: float, atol: float
) -> OutputComparison:
    pairs = list(zip(expected, actual, strict=True))
    within = all(np.allclose(a, e, rtol=rtol, atol=atol) for e, a in pairs)
    return OutputComparison(
        inputs=label,
        samples=len(expected[0]),
        max_abs_error=float(max(np.max(np.abs(e - a)) for e, a in pairs)),
        output_scale=float(max(np.max(np.abs(e)) for e in expected)),
        within_tolerance=bool(within),
        top1_agreement=_top1_agreement(expected[0], actual[0]),
    )


def _binarizer_probes(model: tf.keras.Model) -> list[tuple[tf.keras.layers.Layer, object]]:
    """(layer, input tensor) for every top-level layer that binarizes its input, deduplicated."""
    probes, seen = [], set()
    for layer in model.layers:
        quantizer = getattr(layer, "input_quantizer", None)
        if not is_one_bit(quantizer) or len(layer.inbound_nodes) != 1:
            continue
        tensor = layer.input
        if isinstance(tensor, (list, tuple)) or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        probes.append((layer, tensor))
    return probes


def _signs(quantizer, values: np.ndarray) -> np.ndarray:
    return np.sign(np.asarray(quantizer(tf.constant(values))))


def compare_probes(
    model: tf.keras.Model,
    inputs: np.ndarray,
    *,
    target: str = "arm",
    rtol: float = 1e-3,
    atol: float = 1e-3,
    near_zero: float = 1e-5,
) -> list[ProbeComparison]:
    """Compares every binarizer input of `model` between Keras and LCE, in layer order.

    Converts a copy of the model that also outputs the input of each binarizing layer, runs
    it in both, and counts, per binarizer, the elements whose binarized value differs and
    which of those differ by at most round-off (`near_zero * max|keras|`).

    !!! example
        ```python
        for probe in compare_probes(model, images[:2]):
            print(probe.layer, probe.sign_flips, probe.round_off_flips)
        ```

    # Arguments
        model: a functional Keras model.
        inputs: a batch of inputs.
        target: the LCE target to convert for.
        rtol: relative tolerance of a probe's `allclose`.
        atol: absolute tolerance of a probe's `allclose`.
        near_zero: relative size of a round-off difference.

    # Returns
        One `ProbeComparison` per binarizer input, in layer order.
    """
    probes = _binarizer_probes(model)
    probe_outputs = [
        tf.keras.layers.Activation("linear", name=f"{_PROBE_PREFIX}{i}")(tensor)
        for i, (_, tensor) in enumerate(probes)
    ]
    probe_model = tf.keras.Model(model.inputs, probe_outputs)
    flatbuffer = lce.convert_keras_model(probe_model, target=target)
    order = output_names(flatbuffer)
    lce_values = _lce_predict(Interpreter(flatbuffer), inputs)
    by_name = dict(zip(order, lce_values, strict=True))
    keras_values = _keras_predict(probe_model, inputs)
    comparisons = []
    for i, (layer, _) in enumerate(probes):
        expected, actual = keras_values[i], by_name[f"{_PROBE_PREFIX}{i}"]
        scale = float(np.max(np.abs(expected)))
        flipped = _signs(layer.input_quantizer, expected) != _signs(layer.input_quantizer, actual)
        round_off = flipped & (np.abs(expected - actual) <= near_zero * scale)
        comparisons.append(
            ProbeComparison(
                layer=layer.name,
                max_abs_error=float(np.max(np.abs(expected - actual))),
                scale=scale,
                within_tolerance=bool(np.allclose(actual, expected, rtol=rtol, atol=atol)),
                sign_flips=int(flipped.sum()),
                round_off_flips=int(round_off.sum()),
            )
        )
    return comparisons


def _classify(probes: list[ProbeComparison]) -> tuple[str, str]:
    first_flip = next((i for i, p in enumerate(probes) if p.sign_flips), None)
    first_mismatch = next((i for i, p in enumerate(probes) if not p.within_tolerance), None)
    if first_flip is None:
        if first_mismatch is None:
            return CONVERSION_ERROR, (
                "a fresh conversion agrees with Keras at every binarizer input, yet the "
                "outputs disagree: the error is after the last binarizer, or the flatbuffer "
                "is not a conversion of this model."
            )
        return CONVERSION_ERROR, (
            f"no binarized value differs, yet the binarizer input of "
            f"'{probes[first_mismatch].layer}' disagrees beyond tolerance."
        )
    flip = probes[first_flip]
    if flip.round_off_flips != flip.sign_flips:
        return CONVERSION_ERROR, (
            f"binarizer input of '{flip.layer}': {flip.sign_flips - flip.round_off_flips} of "
            f"{flip.sign_flips} sign flips differ by more than round-off "
            f"(max |error| {flip.max_abs_error:.3g} of scale {flip.scale:.3g})."
        )
    if first_mismatch is not None and first_mismatch <= first_flip:
        return CONVERSION_ERROR, (
            f"binarizer input of '{probes[first_mismatch].layer}' disagrees beyond tolerance "
            "before any round-off sign flip."
        )
    total = sum(p.sign_flips for p in probes)
    return ROUND_OFF, (
        f"every binarizer input agrees within tolerance up to '{flip.layer}', where "
        f"{flip.sign_flips} value(s) within round-off of the threshold flip sign; "
        f"the flips compound downstream ({total} flipped binary activations in all)."
    )


def check_parity(
    model: tf.keras.Model,
    flatbuffer: bytes,
    *,
    random_samples: int = 4,
    real_images: np.ndarray | None = None,
    real_images_label: str = "real images",
    target: str = "arm",
    rtol: float | None = None,
    atol: float | None = None,
    near_zero: float = 1e-5,
    diagnose: bool = True,
    diagnose_samples: int = 2,
    seed: int = 0,
    converted_model: tf.keras.Model | None = None,
) -> ParityReport:
    """Runs the `.tflite` with LCE's interpreter and compares it with the Keras model.

    !!! example
        ```python
        report = check_parity(model, flatbuffer, real_images=load_images(None, model.input_shape))
        assert report.passed, report.summary()
        ```

    # Arguments
        model: the Keras model that was converted (single input).
        flatbuffer: the `.tflite` bytes.
        random_samples: number of standard-normal random inputs.
        real_images: optional real images, already shaped for the model.
        real_images_label: how to name the real images in the report.
        target: the LCE target (for the probe model of the diagnosis).
        rtol: relative tolerance; default 1e-3 (0.01 with int8 I/O), as LCE's tests.
        atol: absolute tolerance; default 1e-3 (0.025 with int8 I/O), as LCE's tests.
        near_zero: relative size of a round-off difference at a binarizer input.
        diagnose: on a mismatch, compare every binarizer input to classify it.
        diagnose_samples: how many mismatching inputs the diagnosis uses.
        seed: seed of the random inputs.
        converted_model: the model the flatbuffer was converted from, if it is an exact
            rewrite of `model` (see `accelerate_symmetric_padding`); the diagnosis converts
            its probes from it.

    # Returns
        A `ParityReport`.

    # Raises
        ValueError: for a model with several inputs or an input shape that is not fixed.
    """
    if len(model.inputs) != 1:
        raise ValueError(f"The parity check supports single-input models, got {len(model.inputs)}.")
    shape = tuple(model.inputs[0].shape[1:])
    if any(size is None for size in shape):
        raise ValueError(f"The parity check needs a fixed input shape, got (None, *{shape}).")
    interpreter = Interpreter(flatbuffer)
    int8_io = interpreter.input_types[0] == np.int8 or interpreter.output_types[0] == np.int8
    rtol = (0.01 if int8_io else 1e-3) if rtol is None else rtol
    atol = (0.025 if int8_io else 1e-3) if atol is None else atol
    rng = np.random.default_rng(seed)
    input_sets = [("random", rng.standard_normal((random_samples, *shape)).astype(np.float32))]
    if real_images is not None and len(real_images):
        input_sets.append((real_images_label, np.asarray(real_images, dtype=np.float32)))
    comparisons, mismatching = [], []
    for label, inputs in input_sets:
        expected = _keras_predict(model, inputs)
        actual = _lce_predict(interpreter, inputs)
        comparisons.append(_compare_outputs(label, expected, actual, rtol, atol))
        bad = ~np.all(
            [
                np.isclose(a, e, rtol=rtol, atol=atol).reshape(len(e), -1).all(axis=1)
                for e, a in zip(expected, actual, strict=True)
            ],
            axis=0,
        )
        mismatching.extend(inputs[bad])
    if not mismatching:
        return ParityReport(EXACT, rtol, atol, comparisons, explanation="")
    if not diagnose:
        return ParityReport(
            CONVERSION_ERROR,
            rtol,
            atol,
            comparisons,
            explanation="outputs disagree; run with diagnose=True to tell round-off sign "
            "flips from conversion errors.",
        )
    probes = compare_probes(
        model if converted_model is None else converted_model,
        np.stack(mismatching[:diagnose_samples]),
        target=target,
        rtol=rtol,
        atol=atol,
        near_zero=near_zero,
    )
    verdict, explanation = _classify(probes)
    return ParityReport(verdict, rtol, atol, comparisons, probes, explanation)
