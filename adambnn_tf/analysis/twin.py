"""A BNN's float twin (`binary=False` of the zoo models) at the BNN's latent weights.

The twin has the BNN's layers and variables with each binarizer replaced by its real-valued
identity (`adambnn_tf.zoo`, `binary=False`). Loaded with the BNN's latent weights, it is the
real-valued network at the same point of weight space, so that the two loss landscapes are
drawn around the same weights along the same directions.

The BNN's BatchNorm moving statistics describe binarized activations; the twin's activations
have another scale, so `recalibrate_batch_norm` re-estimates its statistics on the landscape's
images (a BatchNorm statistics pass, as after weight averaging) before the landscape is drawn.

!!! example
    ```python
    twin = float_twin(config.model, bnn)
    recalibrate_batch_norm(twin, images)
    ```
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from adambnn_tf.config import ModelConfig
from adambnn_tf.config.choices import MODELS

__all__ = ["binary_layers", "copy_weights", "float_twin", "recalibrate_batch_norm"]


def binary_layers(model: tf.keras.Model) -> list[str]:
    """The names of the layers with a 1-bit Larq quantizer (input or kernel).

    # Arguments
        model: a Keras model.

    # Returns
        The layer names, in model order (empty for a real-valued model).
    """
    names = []
    for layer in model.submodules:
        quantizers = (
            getattr(layer, "input_quantizer", None),
            getattr(layer, "kernel_quantizer", None),
        )
        if any(getattr(quantizer, "precision", None) == 1 for quantizer in quantizers):
            names.append(layer.name)
    return names


def copy_weights(source: tf.keras.Model, target: tf.keras.Model) -> None:
    """Sets every weight of `target` from the layer of `source` with the same name.

    Larq's quantized variables give their latent (real) values, so a BNN's latent weights
    land in its twin as they are.

    # Arguments
        source: the model to read.
        target: the model to write; every layer with weights must have a namesake in `source`
            with weights of the same names and shapes.

    # Raises
        ValueError: naming the first layer or weight that does not match.
    """
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            origin = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(
                f"{source.name} has no layer {layer.name!r}: it is not the model the run "
                f"configuration describes ({target.name})."
            ) from None
        expected = [(w.name.split("/", 1)[-1], tuple(w.shape)) for w in layer.weights]
        found = [(w.name.split("/", 1)[-1], tuple(w.shape)) for w in origin.weights]
        if expected != found:
            raise ValueError(
                f"layer {layer.name!r} holds {found} in {source.name} but {expected} in the "
                f"float twin: the saved model does not fit the run configuration's model."
            )
        layer.set_weights(origin.get_weights())


def float_twin(model: ModelConfig, bnn: tf.keras.Model) -> tf.keras.Model:
    """Builds the float twin of a run's model and loads the BNN's latent weights into it.

    Built as `adambnn_tf.main_job.build_zoo_model` builds the run's model (logits out), with
    `binary=False`, for the BNN's input shape and number of classes.

    # Arguments
        model: the model section of the run configuration.
        bnn: the trained BNN (e.g. the run's `final_model.h5`).

    # Returns
        The twin, at the BNN's weights.

    # Raises
        ValueError: for a model name the zoo does not have, or weights that do not fit.
    """
    from adambnn_tf import zoo

    if model.name not in MODELS:
        raise ValueError(f"unknown model {model.name!r}; the zoo has {', '.join(MODELS)}.")
    function_name, options = MODELS[model.name]
    twin = getattr(zoo, function_name)(
        input_shape=tuple(bnn.input_shape[1:]),
        num_classes=int(bnn.output_shape[-1]),
        width_multiplier=model.width_multiplier,
        padding=model.padding,
        initializer=model.initializer,
        classifier_activation=None,
        weights=None,
        binary=False,
        **options,
    )
    copy_weights(bnn, twin)
    return twin


def recalibrate_batch_norm(
    model: tf.keras.Model, images: np.ndarray, batch_size: int = 256
) -> None:
    """Sets every BatchNorm's moving statistics to their average over `images`.

    Runs the model in training mode batch by batch with each BatchNorm's momentum set so
    that its moving mean and variance become the running average of the batch statistics
    (`momentum = k / (k + 1)` at batch `k`), then restores the momenta. Only the moving
    statistics change; no trainable weight does.

    # Arguments
        model: a Keras model.
        images: the images to estimate the statistics on.
        batch_size: the batch size of the passes.
    """
    layers = [
        layer for layer in model.submodules if isinstance(layer, tf.keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in layers]
    try:
        for index, start in enumerate(range(0, len(images), batch_size)):
            for layer in layers:
                layer.momentum = index / (index + 1)
            model(images[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
