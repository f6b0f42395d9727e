"""ReActNet models in larq-zoo style (`adambnn_tf.zoo`)."""

import adambnn_tf  # noqa: F401  (selects tf-keras and registers the custom objects)

__all__: list[str] = []
