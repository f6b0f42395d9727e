"""Keras callbacks of the AdamBNN recipe (`adambnn_tf.callbacks`)."""

import adambnn_tf  # noqa: F401  (selects tf-keras and registers the custom objects)

__all__: list[str] = []
