"""adambnn_tf: binary neural networks trained the AdamBNN way, with Keras, Larq and LCE.

Importing the package selects Keras 2 (tf-keras) for TensorFlow when TensorFlow has not
been imported yet (Larq needs it) and registers the plugin's quantizers, layers (`conv_layers`
too) and initializers as Keras custom objects, so that `input_quantizer="rsign"` works.

!!! example
    ```python
    import adambnn_tf  # before TensorFlow, or with TF_USE_LEGACY_KERAS=1 set
    import larq as lq
    import tensorflow as tf

    x = tf.keras.Input((32, 32, 64))
    y = lq.layers.QuantConv2D(
        64, 3, padding="same", input_quantizer="rsign",
        kernel_quantizer="scaled_weight_sign", kernel_constraint="weight_clip",
    )(x)
    y = adambnn_tf.layers.RPReLU()(y)
    ```
"""

from importlib import metadata

from adambnn_tf import _startup
from adambnn_tf._keras_setup import ensure_legacy_keras

ensure_legacy_keras()

if not _startup.only_help():  # `adambnn --help` needs no TensorFlow
    with _startup.importing_quietly():
        import tensorflow  # noqa: F401  (first imported here: its start-up logs held back)

    # The submodules need the Keras setup above.
    from adambnn_tf import conv_layers, initializers, layers, losses, quantizers  # noqa: E402

try:
    __version__ = metadata.version("adambnn-tf")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["conv_layers", "initializers", "layers", "losses", "quantizers", "__version__"]
