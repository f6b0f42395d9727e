"""Every choice list of a run's configuration, in one place.

Pure Python (no TensorFlow import), so that the command line can list the choices in its
`--help` without loading TensorFlow.
"""

from __future__ import annotations

__all__ = [
    "C2I_REFERENCES",
    "DECAY_FORMS",
    "DECAY_PARAMETERS",
    "IMAGENET_PIPELINES",
    "INITIALIZERS",
    "MODELS",
    "NAMED_TEACHERS",
    "OPTIMIZERS",
    "PADDINGS",
    "PRECISIONS",
    "SCHEDULES",
    "SCHEMES",
    "STAGE2_INITS",
    "STAGE2_TEACHERS",
]

MODELS: dict[str, tuple[str, dict]] = {
    "reactnet_a_small": ("ReActNetA", {"small_input": True}),
    "reactnet_a_compact": ("ReActNetACompact", {}),
    "reactnet_a": ("ReActNetA", {}),
    "reactnet18_small": ("ReActNet18", {"small_input": True}),
    "reactnet18": ("ReActNet18", {}),
}
"""Model names of a run: the `adambnn_tf.zoo` function and its fixed options."""

SCHEMES = ("two-step", "one-step")
"""`two-step`: the recipe (stage 1 real latent weights, stage 2 binary); `one-step`: binary
weights from scratch (the paper's comparison)."""

OPTIMIZERS = ("adam", "sgd")
"""`adam`: Adam with PyTorch's betas and epsilon (`OfficialAdam`); `sgd`: momentum 0.9."""

SCHEDULES = ("stepwise", "epochwise")
"""Linear decay of the learning rate to 0 per stage: every step, or per epoch as the
official `LambdaLR(1 - e/E)` (constant within an epoch, the last epoch at 0)."""

DECAY_PARAMETERS = ("latent", "official")
"""Which variables weight decay acts on: `latent`, the latent weights of the binary
convolutions only; `official`, the official code's group (every 4-D tensor or a name with
`conv`: all convolution kernels, the stem's too, and every LearnableBias)."""

DECAY_FORMS = ("coupled", "decoupled")
"""`coupled`: L2 added to the gradient before Adam's moments (PyTorch's `Adam(weight_decay)`,
the official code); `decoupled`: AdamW-style, subtracted from the weights."""

STAGE2_INITS = ("last", "best")
"""The stage-1 weights stage 2 starts from: the last epoch's, or the best epoch's by the
stage-2 initialisation metric (the official code: best validation top-1)."""

NAMED_TEACHERS = ("resnet34",)
"""Teachers named rather than given as a file: `resnet34`, torchvision's ResNet-34 with its
ImageNet weights (the official recipe's teacher)."""

STAGE2_TEACHERS = (None, "stage1")
"""`None`, or `"stage1"`: distil the finished stage-1 model into stage 2."""

C2I_REFERENCES = ("stage", "training")
"""The reference signs of the C2I-ratio: each stage's initial weights, or the initial weights
of the whole training (stage 1's for two-step: the paper's quantity)."""

PADDINGS = ("lce", "pytorch")
"""The zoo models' padding: `lce` (one-padding that LCE's binary kernels run natively) or
`pytorch` (the official code's zero padding, for converted PyTorch checkpoints)."""

PRECISIONS = ("float32", "mixed_bfloat16")
"""Keras dtype policies of the trained models: `float32`, or `mixed_bfloat16` (bfloat16
computations, float32 variables; faster on CPUs with AVX512-BF16 or AMX)."""

INITIALIZERS = ("keras", "pytorch")
"""Kernel initialisers of the zoo models: Keras' glorot-uniform, or PyTorch's defaults
(kaiming-uniform with a=sqrt(5), bound 1/sqrt(fan_in), and a uniform linear bias) as the
official code has."""

IMAGENET_PIPELINES = ("larq_zoo", "official")
"""Preprocessing of ImageNet-style sources (tfds `imagenet2012`, image folders):
`larq_zoo`, larq-zoo's crop and flip; `official`, the official AdamBNN code's
RandomResizedCrop(224, scale 0.08-1) -> Lighting -> flip -> mean/std for training and
Resize(256) -> CenterCrop(224) -> mean/std for validation."""
