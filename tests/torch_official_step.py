"""The official AdamBNN training step in plain PyTorch, written from the spec of the official code.

What `step1/train.py` and `step2/train.py` of liuzechun/AdamBNN do in one iteration (spec
§3.1), for the training-parity tests and the stage-1 step benchmark:

- the student is `torch_reactnet.ReActNetA` in step-1 form (`stage=1`: binary activations,
  real `nn.Conv2d` weights) or step-2 form (`stage=2`: `HardBinaryConv`, alpha = mean|W| per
  output channel, detached, STE through clamp(W, -1, 1), unscaled), in `train()` mode
  (BatchNorm momentum 0.1, eps 1e-5);
- a frozen teacher (`requires_grad=False`, `eval()`) whose logits enter the loss only; the
  official one is torchvision's ResNet-34, here any small module (`TinyTeacher`);
- the distribution loss `-sum softmax(t) * log_softmax(s)`, batch mean, no label term;
- `torch.optim.Adam(betas=(0.9, 0.999), eps=1e-8)` with the official two parameter groups,
  `[other (no decay), weight (p.ndim == 4 or 'conv' in name, weight_decay)]`;
- `LambdaLR(lambda e: 1 - e / E)`, stepped once at the start of every epoch, before its first
  update.

`OfficialStage` runs one stage of that loop step by step and hands out its full state (model,
Adam, scheduler) before and after every step; `stage2_from_stage1` is the official hand-off
(a step-2 model loading step 1's state dict strictly, with a fresh optimizer and schedule).
`keras_teacher` builds the Keras twin of a `TinyTeacher` with the same weights.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import warnings

import torch
import torch.nn.functional as F  # noqa: N812  (PyTorch convention)
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_reactnet  # noqa: E402  (the official model, beside this file)

__all__ = [
    "OFFICIAL_BETAS",
    "OFFICIAL_EPSILON",
    "OfficialStage",
    "StepRecord",
    "TinyTeacher",
    "distribution_loss",
    "keras_teacher",
    "official_parameter_groups",
    "stage2_from_stage1",
]

OFFICIAL_BETAS = (0.9, 0.999)  # train.py passes them; eps stays PyTorch's default
OFFICIAL_EPSILON = 1e-8


class TinyTeacher(nn.Module):
    """A small real-valued teacher: 3x3 conv with bias, ReLU, global average pool, linear.

    Stands in for the official ResNet-34: the teacher's logits only enter the loss, so any
    frozen module giving logits exercises the same step.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, 1, 1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = F.relu(self.conv(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def distribution_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """The official `KD_loss.DistributionLoss`: batch mean of `-softmax(t) . log_softmax(s)`.

    Written as the official code computes it (a batched matrix product), so that its round-off
    is the reference's.
    """
    if teacher_logits.requires_grad:
        raise ValueError("real network output should not require gradients.")
    log_probabilities = F.log_softmax(student_logits, dim=1).unsqueeze(2)
    targets = F.softmax(teacher_logits, dim=1).unsqueeze(1)
    return (-torch.bmm(targets, log_probabilities)).mean()


def official_parameter_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """The official split of `model.named_parameters()` into Adam's two groups.

    # Returns
        `(other, weight)`: parameter names without decay, then with decay
        (`p.ndimension() == 4 or 'conv' in name`), each in `named_parameters` order, as the
        official optimizer holds them.
    """
    other, weight = [], []
    for name, parameter in model.named_parameters():
        (weight if parameter.ndimension() == 4 or "conv" in name else other).append(name)
    return other, weight


@dataclasses.dataclass
class StepRecord:
    """What one official step did.

    # Attributes
        loss: the distribution loss of the batch (before the update).
        gradients: `name -> dL/dp` of every student parameter (without weight decay, which
            Adam adds inside its step).
        learning_rate: the learning rate the step used (both groups share it).
        before: the full state before the step (`OfficialStage.state()`), the scheduler
            already stepped if the step opened an epoch.
        after: the full state after the step (before the next epoch's scheduler step).
    """

    loss: float
    gradients: dict[str, torch.Tensor]
    learning_rate: float
    before: dict
    after: dict


class OfficialStage:
    """One stage of the official training loop, one step at a time.

    # Arguments
        student: the official model (`torch_reactnet.ReActNetA`, `stage=1` or `2`).
        teacher: the frozen teacher (logits out); frozen here.
        learning_rate: the base learning rate (official 1.25e-3).
        weight_decay: the decayed group's coupled L2 (official 5e-6 in step 1, 0 in step 2).
        epochs: `E` of the `LambdaLR(1 - e / E)` schedule.
        steps_per_epoch: iterations per epoch (the scheduler steps before each epoch's first).
        channels_last: keep the student's 4-D tensors and the batches in channels-last
            memory. The values and the official computation are the same; only the float32
            round-off changes, towards TensorFlow's NHWC kernels (see
            `tests/test_training_parity.py` for why that matters).
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        *,
        learning_rate: float = 1.25e-3,
        weight_decay: float = 5e-6,
        epochs: int,
        steps_per_epoch: int,
        channels_last: bool = False,
    ):
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.student = student.to(memory_format=self.memory_format)
        self.teacher = teacher
        for parameter in self.teacher.parameters():
            parameter.requires_grad = False
        self.steps_per_epoch = steps_per_epoch
        parameters = dict(student.named_parameters())
        other, weight = official_parameter_groups(student)
        self.parameter_names = other + weight  # the optimizer's index order
        self.optimizer = torch.optim.Adam(
            [
                {"params": [parameters[name] for name in other]},
                {"params": [parameters[name] for name in weight], "weight_decay": weight_decay},
            ],
            lr=learning_rate,
            betas=OFFICIAL_BETAS,
            eps=OFFICIAL_EPSILON,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda epoch: 1.0 - epoch / epochs, last_epoch=-1
        )
        self.steps_taken = 0

    def open_epoch_if_due(self) -> None:
        """The official `train()` steps the scheduler first: once per epoch, before its first
        update (idempotent, so that a state taken "before a step" already has it)."""
        epoch = self.steps_taken // self.steps_per_epoch
        if self.steps_taken % self.steps_per_epoch == 0 and self.scheduler.last_epoch <= epoch:
            with warnings.catch_warnings():
                # The official order (scheduler before optimizer) makes PyTorch warn.
                warnings.simplefilter("ignore", UserWarning)
                self.scheduler.step()

    def _snapshot(self) -> dict:
        return {
            "model": copy.deepcopy(self.student.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": copy.deepcopy(self.scheduler.state_dict()),
            "steps_taken": self.steps_taken,
        }

    def state(self) -> dict:
        """A deep copy of everything the next step depends on (the model's state dict, Adam's
        and the scheduler's, the step count), the scheduler stepped if an epoch opens."""
        self.open_epoch_if_due()
        return self._snapshot()

    def iterate(self, images: torch.Tensor) -> float:
        """The official iteration on a batch of NCHW images, and nothing else (no copies).

        # Returns
            The batch's loss.
        """
        self.open_epoch_if_due()
        images = images.contiguous(memory_format=self.memory_format)
        self.student.train()
        self.teacher.eval()
        student_logits = self.student(images)
        teacher_logits = self.teacher(images)  # frozen parameters: no graph, as officially
        loss = distribution_loss(student_logits, teacher_logits)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps_taken += 1
        return loss.item()

    def step(self, images: torch.Tensor) -> StepRecord:
        """The official iteration, recorded: the state before and after it, the gradients.

        # Returns
            The step's `StepRecord`.
        """
        before = self.state()
        loss = self.iterate(images)
        # Adam adds the coupled L2 term to a new tensor, so `.grad` is still dL/dp.
        gradients = {
            name: parameter.grad.detach().clone()
            for name, parameter in self.student.named_parameters()
        }
        learning_rate = self.optimizer.param_groups[0]["lr"]  # the next epoch steps it later
        return StepRecord(loss, gradients, learning_rate, before, self._snapshot())


def stage2_from_stage1(stage1_student: nn.Module, **model_kwargs) -> torch_reactnet.ReActNetA:
    """The official hand-off: a step-2 model loading step 1's state dict with `strict=True`.

    # Arguments
        stage1_student: the trained step-1 model.
        **model_kwargs: the `torch_reactnet.ReActNetA` options of both (widths, classes, ...).

    # Returns
        The step-2 model (HardBinaryConv), with step 1's values.
    """
    student = torch_reactnet.ReActNetA(stage=2, **model_kwargs)
    student.load_state_dict(stage1_student.state_dict(), strict=True)
    return student


def keras_teacher(teacher: TinyTeacher, input_shape: tuple[int, int, int]):
    """The Keras twin of a `TinyTeacher`, with its weights (channels-last input).

    # Arguments
        teacher: the PyTorch teacher.
        input_shape: `(height, width, channels)`.

    # Returns
        A `tf.keras.Model` giving the same logits.
    """
    import tensorflow as tf  # only here: the PyTorch reference itself does not need it

    width = teacher.conv.out_channels
    inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv")(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(teacher.fc.out_features, name="fc")(x)
    model = tf.keras.Model(inputs, outputs, name="tiny_teacher")
    model.get_layer("conv").set_weights(
        [
            teacher.conv.weight.detach().numpy().transpose(2, 3, 1, 0),
            teacher.conv.bias.detach().numpy(),
        ]
    )
    model.get_layer("fc").set_weights(
        [teacher.fc.weight.detach().numpy().T, teacher.fc.bias.detach().numpy()]
    )
    return model
