"""What an LCE export did: binary-convolution accounting, sizes, parity, as one report."""

from __future__ import annotations

import collections
import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from adambnn_tf.export.binary_layers import bitpacked_kernel, find_binary_layers, larq_layers
from adambnn_tf.export.flatbuffer import Operator, constant_tensor, op_counts, operators

if TYPE_CHECKING:
    from adambnn_tf.export.parity import ParityReport

__all__ = ["ExportReport", "LayerStatus", "account_binary_layers", "build_report"]

_NO_STATIC_CAUSE = (
    "the converter did not match it although nothing in the layer's configuration stands in "
    "the way (look for an op between the binarizer and the convolution, or a kernel that is "
    "not constant)"
)


@dataclasses.dataclass(frozen=True)
class LayerStatus:
    """How one binary Keras layer ended up in the flatbuffer.

    # Attributes
        layer: the Keras layer name.
        kind: `"conv2d"`, `"depthwise_conv2d"`, `"dense"`, ...
        binary_input: whether the layer binarizes its input.
        binary_kernel: whether the layer binarizes its kernel.
        accelerated: whether an `LceBconv2d` of the flatbuffer computes it.
        reasons: why it is not accelerated (empty when it is).
        runs_as: the flatbuffer operators whose tensor names name the layer.
    """

    layer: str
    kind: str
    binary_input: bool
    binary_kernel: bool
    accelerated: bool
    reasons: tuple[str, ...]
    runs_as: tuple[str, ...]

    @property
    def is_binary_conv(self) -> bool:
        """A `QuantConv2D` with a 1-bit kernel quantizer and a 1-bit input quantizer (or an
        input that an earlier layer binarized, as the `LceBconv2d` computing it proves)."""
        return (
            self.kind == "conv2d" and self.binary_kernel and (self.binary_input or self.accelerated)
        )


def _match_bconvs(
    model: tf.keras.Model, flatbuffer: bytes, candidates: list[str], nodes: list[Operator]
) -> tuple[dict[str, int], int]:
    """Maps Keras layer names to the `LceBconv2d` nodes that compute them.

    A node's bitpacked filter equals the packed signs of exactly one layer's kernel unless
    two layers have identical kernel signs (e.g. a fresh model with constant initial
    weights); ties go to the layer named in the node's tensor names, then to layer order.
    """
    layers = {layer.name: layer for layer in larq_layers(model)}
    packed = {name: bitpacked_kernel(layers[name]) for name in candidates}
    assigned: dict[str, int] = {}
    unmatched = 0
    for node in nodes:
        if node.name != "LceBconv2d":
            continue
        filter_values = constant_tensor(flatbuffer, node.inputs[1])
        matches = [
            name
            for name in candidates
            if name not in assigned
            and filter_values is not None
            and packed[name].shape == filter_values.shape
            and np.array_equal(packed[name], filter_values)
        ]
        if not matches:
            unmatched += 1
            continue
        named = [name for name in matches if name in node.name_components()]
        assigned[(named or matches)[0]] = node.index
    return assigned, unmatched


def account_binary_layers(
    model: tf.keras.Model, flatbuffer: bytes, target: str = "arm"
) -> tuple[list[LayerStatus], int]:
    """Says for every binary layer of `model` whether it became an `LceBconv2d`, and if not why.

    !!! example
        ```python
        statuses, _ = account_binary_layers(model, lce.convert_keras_model(model))
        slow = [status for status in statuses if not status.accelerated]
        ```

    # Arguments
        model: the Keras model that was converted.
        flatbuffer: the converted `.tflite` bytes.
        target: the LCE target the model was converted for.

    # Returns
        A list of `LayerStatus` in layer order, and the number of `LceBconv2d` nodes that
        match no layer (0 for a correct conversion).
    """
    binary_layers = find_binary_layers(model, target)
    nodes = operators(flatbuffer)
    candidates = [layer.name for layer in binary_layers if layer.kind == "conv2d"]
    assigned, unmatched = _match_bconvs(model, flatbuffer, candidates, nodes)
    statuses = []
    for layer in binary_layers:
        accelerated = layer.name in assigned
        runs_as = tuple(
            sorted({node.name for node in nodes if layer.name in node.name_components()})
        )
        if accelerated:
            reasons: tuple[str, ...] = ()
        else:
            reasons = layer.obstacles or (_NO_STATIC_CAUSE,)
        statuses.append(
            LayerStatus(
                layer=layer.name,
                kind=layer.kind,
                binary_input=layer.binary_input,
                binary_kernel=layer.binary_kernel,
                accelerated=accelerated,
                reasons=reasons,
                runs_as=runs_as,
            )
        )
    return statuses, unmatched


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


@dataclasses.dataclass
class ExportReport:
    """The result of `adambnn_tf.export.export`.

    # Attributes
        output_path: where the `.tflite` file was written (`None` if not written).
        target: the LCE target.
        size_bytes: size of the flatbuffer.
        op_counts: operator name -> count.
        layers: one `LayerStatus` per binary layer of the Keras model.
        unmatched_bconvs: `LceBconv2d` nodes that match no Keras layer.
        conversion_seconds: wall time of the LCE conversion.
        float_size_bytes: size of a float TFLite export of the same architecture, if made.
        parity: the parity check, if run.
        rewritten_layers: binary convolutions exported through
            `accelerate_symmetric_padding` (PyTorch symmetric padding at stride 2).
        notes: other remarks (e.g. why the parity check was skipped).
    """

    output_path: str | None
    target: str
    size_bytes: int
    op_counts: collections.Counter
    layers: list[LayerStatus]
    unmatched_bconvs: int = 0
    conversion_seconds: float = 0.0
    float_size_bytes: int | None = None
    parity: ParityReport | None = None
    rewritten_layers: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def binary_convs(self) -> list[LayerStatus]:
        """The `QuantConv2D` layers with 1-bit inputs and 1-bit weights."""
        return [status for status in self.layers if status.is_binary_conv]

    @property
    def not_accelerated(self) -> list[LayerStatus]:
        """Every binary layer that no `LceBconv2d` computes."""
        return [status for status in self.layers if not status.accelerated]

    @property
    def all_accelerated(self) -> bool:
        """Whether every binary layer runs as `LceBconv2d`."""
        return not self.not_accelerated

    @property
    def n_lce_bconv(self) -> int:
        """Number of `LceBconv2d` nodes in the flatbuffer."""
        return self.op_counts.get("LceBconv2d", 0)

    def summary(self, verbose: bool = False) -> str:
        """A human-readable multi-line summary.

        # Arguments
            verbose: also list every binary layer and the operators it runs as.

        # Returns
            The summary text.
        """
        binary = self.binary_convs
        accelerated = [status for status in binary if status.accelerated]
        lines = [
            f"LCE export (target={self.target})"
            + (f" -> {self.output_path}" if self.output_path else ""),
            f"  size: {_megabytes(self.size_bytes)}"
            + (
                f" (float TFLite export of the same architecture: "
                f"{_megabytes(self.float_size_bytes)}, "
                f"{self.float_size_bytes / self.size_bytes:.1f}x larger)"
                if self.float_size_bytes
                else ""
            ),
            f"  conversion: {self.conversion_seconds:.1f} s",
            f"  binary convolutions: {len(binary)} in Keras, {len(accelerated)} accelerated, "
            f"{self.n_lce_bconv} LceBconv2d in the flatbuffer",
        ]
        if self.rewritten_layers:
            lines.append(
                f"  rewritten for LCE (symmetric zero padding as pad + same-zero + crop): "
                f"{', '.join(self.rewritten_layers)}"
            )
        if verbose:
            for status in self.layers:
                state = "LceBconv2d" if status.accelerated else "not accelerated"
                ops = ", ".join(status.runs_as) or "-"
                lines.append(f"    {status.layer} ({status.kind}): {state}; ops {ops}")
        for status in self.not_accelerated:
            runs_as = f" [runs as {', '.join(status.runs_as)}]" if status.runs_as else ""
            lines.append(f"  NOT accelerated: {status.layer} ({status.kind}){runs_as}")
            lines.extend(f"    - {reason}" for reason in status.reasons)
        if self.unmatched_bconvs:
            lines.append(f"  {self.unmatched_bconvs} LceBconv2d match no Keras layer")
        ops = ", ".join(f"{name} {count}" for name, count in sorted(self.op_counts.items()))
        lines.append(f"  ops: {ops}")
        if self.parity is not None:
            lines.extend("  " + line for line in self.parity.summary().splitlines())
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-serialisable dictionary of the report."""
        return {
            "output_path": self.output_path,
            "target": self.target,
            "size_bytes": self.size_bytes,
            "float_size_bytes": self.float_size_bytes,
            "conversion_seconds": self.conversion_seconds,
            "op_counts": dict(self.op_counts),
            "binary_convs": len(self.binary_convs),
            "accelerated_binary_convs": sum(s.accelerated for s in self.binary_convs),
            "lce_bconv2d": self.n_lce_bconv,
            "unmatched_bconvs": self.unmatched_bconvs,
            "rewritten_layers": list(self.rewritten_layers),
            "notes": list(self.notes),
            "layers": [dataclasses.asdict(status) for status in self.layers],
            "parity": None if self.parity is None else self.parity.to_dict(),
        }


def build_report(
    model: tf.keras.Model,
    flatbuffer: bytes,
    *,
    target: str,
    output_path: str | None = None,
    conversion_seconds: float = 0.0,
) -> ExportReport:
    """Builds the `ExportReport` of a converted model (without parity and float size).

    # Arguments
        model: the Keras model that was converted.
        flatbuffer: the `.tflite` bytes.
        target: the LCE target.
        output_path: where the file was written.
        conversion_seconds: how long the conversion took.

    # Returns
        An `ExportReport`.
    """
    statuses, unmatched = account_binary_layers(model, flatbuffer, target)
    return ExportReport(
        output_path=output_path,
        target=target,
        size_bytes=len(flatbuffer),
        op_counts=op_counts(flatbuffer),
        layers=statuses,
        unmatched_bconvs=unmatched,
        conversion_seconds=conversion_seconds,
    )
