"""Keras callbacks of the AdamBNN recipe (`adambnn_tf.callbacks`)."""

import adambnn_tf  # noqa: F401  (selects tf-keras and registers the custom objects)

from .histograms import LatentWeightHistograms
from .saturation import BinarizerSaturation
from .sign_flips import C2IRatio, FFRatio

__all__: list[str] = ["BinarizerSaturation", "C2IRatio", "FFRatio", "LatentWeightHistograms"]
