"""Per-channel weight helpers shared by the quantizers and layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

__all__ = ["channels_of", "per_channel_initializer", "serialize_initializer"]


def per_channel_initializer(
    initializer: tf.keras.initializers.Initializer | str | Sequence[float] | np.ndarray,
    channels: int,
    owner: str,
) -> tf.keras.initializers.Initializer:
    """Returns a Keras initializer for a per-channel vector of `channels` values.

    Accepts anything `tf.keras.initializers.get` accepts, or explicit values, which must
    hold exactly one value per channel.

    # Arguments
        initializer: a Keras initializer (or its name), or one value per channel.
        channels: the number of channels of the input (its last axis).
        owner: the name of the layer asking, for the error message.

    # Returns
        A Keras initializer.

    # Raises
        ValueError: if explicit values do not hold one value per channel.
    """
    if isinstance(initializer, (list, tuple, np.ndarray)):
        values = np.asarray(initializer, dtype="float32")
        if values.shape != (channels,):
            raise ValueError(
                f"{owner}: the initial values have shape {values.shape}, but the input has "
                f"{channels} channels (last axis). Give exactly one value per channel, "
                f"shape ({channels},)."
            )
        return tf.keras.initializers.Constant(values)
    return tf.keras.initializers.get(initializer)


def channels_of(input_shape: tf.TensorShape, owner: str) -> int:
    """Returns the size of the last (channel) axis, or raises a clear error.

    # Arguments
        input_shape: the shape the layer is built with.
        owner: the name of the layer asking, for the error message.

    # Returns
        The number of channels.

    # Raises
        ValueError: if the input has no axes or an unknown number of channels.
    """
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank is None or input_shape.rank < 1 or input_shape[-1] is None:
        raise ValueError(
            f"{owner} needs inputs whose last axis (channels, NHWC) has a known size, "
            f"got shape {input_shape}. Give the model a fixed number of input channels."
        )
    return int(input_shape[-1])


def serialize_initializer(initializer) -> str | list | dict:
    """Returns a JSON-friendly form of what `per_channel_initializer` accepts.

    # Arguments
        initializer: a Keras initializer (or its name), or one value per channel.

    # Returns
        The name, the list of values, or the Keras serialization of the initializer.
    """
    if isinstance(initializer, np.ndarray):
        return initializer.tolist()
    if isinstance(initializer, (str, list, tuple)):
        return list(initializer) if isinstance(initializer, tuple) else initializer
    return tf.keras.initializers.serialize(tf.keras.initializers.get(initializer))
