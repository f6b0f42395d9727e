"""Export of trained BNNs to Larq Compute Engine flatbuffers (`adambnn_tf.export`)."""

from adambnn_tf.export.flatbuffer import op_counts

__all__ = ["op_counts"]
