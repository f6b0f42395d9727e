"""Times the official stage-1 training step in Keras (this plugin) against the PyTorch reference.

One step of the official AdamBNN stage 1: the student (ReActNet-A, binary activations, real
weights) and a frozen teacher run forward on the batch, the distribution loss (soft targets of
the teacher, no label term) is backpropagated, and Adam updates the student with coupled L2
on the official parameter group and the per-epoch learning rate.

- Keras: the `official-imagenet` recipe as `TwoStageTraining` builds it
  (`build_zoo_model`, `TwoStageTraining._optimizer`, `DistillationModel`), timed through
  `fit` per step (`_fit_timing.StepTimes`), as a run trains.
- PyTorch: `tests/torch_official_step.OfficialStage`, the official loop written from the spec
  (the official module structure, eager, the two Adam groups, `LambdaLR`).

The teacher is a ResNet-34 of the same shape on both sides by default (the official teacher;
random weights, inference mode), or `--teacher tiny` (`TinyTeacher`: a 3x3 conv and a linear
layer, to time the student's step alone). Each framework runs in its own subprocess; the two
alternate round by round so that load from other processes hits both alike. Reports the median
step time of each, their ratio (Keras / PyTorch), the CPU (`lscpu` model and flags), the
command and the date.

    python bench/official_step_vs_pytorch.py --batch 8 --size 224 --rounds 2 --steps 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time

from _machine import compare_workers, cpu_description, serve_worker  # beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")
RESNET34_BLOCKS = (3, 4, 6, 3)
RESNET34_WIDTHS = (64, 128, 256, 512)


def _torch_resnet34(num_classes: int):
    """torchvision's `resnet34` layout, written out (torchvision is not a dependency)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    layers = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    inplanes = 64
    for index, (blocks, planes) in enumerate(zip(RESNET34_BLOCKS, RESNET34_WIDTHS, strict=True)):
        for block in range(blocks):
            stride = 2 if block == 0 and index > 0 else 1
            layers.append(Block(inplanes, planes, stride))
            inplanes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, num_classes)]
    return nn.Sequential(*layers)


def _keras_resnet34(input_shape, num_classes: int):
    """The same ResNet-34 in Keras (`"same"` padding: the sampling grid does not matter here)."""
    import tensorflow as tf

    layers = tf.keras.layers

    def conv_bn(x, filters, kernel, stride):
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(x)
        return layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)

    inputs = tf.keras.Input(input_shape)
    x = layers.ReLU()(conv_bn(inputs, 64, 7, 2))
    x = layers.MaxPool2D(3, 2, padding="same")(x)
    for index, (blocks, filters) in enumerate(zip(RESNET34_BLOCKS, RESNET34_WIDTHS, strict=True)):
        for block in range(blocks):
            stride = 2 if block == 0 and index > 0 else 1
            shortcut = x
            if stride != 1 or x.shape[-1] != filters:
                shortcut = conv_bn(x, filters, 1, stride)
            y = layers.ReLU()(conv_bn(x, filters, 3, stride))
            x = layers.ReLU()(layers.Add()([conv_bn(y, filters, 3, 1), shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, layers.Dense(num_classes)(x), name="resnet34")


def _config(args):
    from adambnn_tf.config import recipe

    return recipe("official-imagenet").with_overrides(
        {
            "model.width_multiplier": args.width,
            "data.batch_size": args.batch,
            "distillation.teacher": "none",  # given as a model below
        }
    )


def _keras_worker(args) -> dict:
    # isort: off
    import adambnn_tf  # noqa: F401  (before TensorFlow: selects tf-keras and oneDNN)
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, HERE)
    sys.path.insert(0, TESTS)
    from _fit_timing import StepTimes
    from adambnn_tf.distillation import DistillationModel
    from adambnn_tf.main_job import build_zoo_model
    from adambnn_tf.training.two_stage import TwoStageTraining, create_slots

    # isort: on

    if args.tf_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.tf_threads)
    config = _config(args)
    input_shape = (args.size, args.size, 3)

    def build_model(stage):
        return build_zoo_model(config.model, stage, input_shape, args.classes)

    if args.teacher == "resnet34":
        teacher = _keras_resnet34(input_shape, args.classes)
    else:
        import torch_official_step

        teacher = torch_official_step.keras_teacher(
            torch_official_step.TinyTeacher(num_classes=args.classes), input_shape
        )
    training = TwoStageTraining(build_model, config, teacher=teacher, verbose=0)
    student = build_model(1)
    model = DistillationModel(student, teacher, name="distillation")
    optimizer = training._optimizer(1, student, config.stage1.epochs, 5005)
    model.compile(optimizer=optimizer, loss=training._loss(), metrics=["accuracy"])
    create_slots(optimizer, student.trainable_variables)

    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch, *input_shape), "float32")
    labels = rng.integers(0, args.classes, args.batch)
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    timer = StepTimes()
    model.fit(data, epochs=1, steps_per_epoch=args.steps + 1, callbacks=[timer], verbose=0)
    return {"first_step_s": timer.seconds[0], "step_s": timer.seconds[1:]}


def _torch_worker(args) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, TESTS)
    import torch_official_step
    import torch_reactnet

    torch.set_num_threads(args.threads)
    config = _config(args)
    torch.manual_seed(0)
    student = torch_reactnet.ReActNetA(
        stage=1, num_classes=args.classes, width_multiplier=args.width
    )
    if args.teacher == "resnet34":
        teacher = _torch_resnet34(args.classes)
    else:
        teacher = torch_official_step.TinyTeacher(num_classes=args.classes)
    stage = torch_official_step.OfficialStage(
        student,
        teacher,
        learning_rate=config.stage1.learning_rate,
        weight_decay=config.stage1.weight_decay,
        epochs=config.stage1.epochs,
        steps_per_epoch=5005,
    )
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.standard_normal((args.batch, 3, args.size, args.size), "float32"))
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        stage.iterate(images)  # the iteration alone, without the parity tests' state copies
        times.append(time.perf_counter() - start)
    return {"first_step_s": times[0], "step_s": times[1:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--width", type=float, default=1.0, help="width multiplier")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--teacher", default="resnet34", choices=("resnet34", "tiny"))
    parser.add_argument("--steps", type=int, default=2, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    parser.add_argument(
        "--tf-threads", type=int, default=1, help="TF intra/inter-op threads (0: TF's default)"
    )
    parser.add_argument("--worker", choices=("keras", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        return serve_worker({"keras": _keras_worker, "torch": _torch_worker}, args)

    print(f"command: python {shlex.join(['bench/official_step_vs_pytorch.py', *sys.argv[1:]])}")
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"cpu: {cpu_description()}")
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    summary, ratio = compare_workers(__file__, args)
    print(f"load average at end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(json.dumps({"config": vars(args), "summary": summary, "keras_over_torch": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
