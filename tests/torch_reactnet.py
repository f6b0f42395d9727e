"""PyTorch ReActNet-A and ReActNet-18, written from the spec of the official code.

A reference for the conversion parity tests and the training-step benchmark: module names,
registration order and forward passes follow the spec (`feature.{i}.move11`,
`binary_3x3`, ..., `layer{l}.{b}.binary_conv`, ...), so `state_dict()` has the official key
layout. `small_input=True` mirrors the Keras option (stem stride 1, fewer downsamplings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812  (PyTorch convention)
from torch import nn

REACTNET_A_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


def _scaled_widths(base: tuple[int, ...], width_multiplier: float) -> list[int]:
    widths = [max(1, round(base[0] * width_multiplier))]
    for previous, current in zip(base, base[1:], strict=False):
        widths.append(widths[-1] * (current // previous))
    return widths


class LearnableBias(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return x + self.bias.expand_as(x)


class BinaryActivation(nn.Module):
    """sign(x) forward; ApproxSign (piecewise quadratic) gradient via the detach trick."""

    def forward(self, x):
        out_forward = torch.sign(x)
        quadratic = torch.where(x < 0, x * x + 2 * x, -x * x + 2 * x)
        surrogate = torch.where(x < -1, -torch.ones_like(x), quadratic)
        surrogate = torch.where(x >= 1, torch.ones_like(x), surrogate)
        return out_forward.detach() - surrogate.detach() + surrogate


class HardBinaryConv(nn.Module):
    """mean|W| * sign(W) per output channel, clipped STE gradient, zero padding."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.stride, self.padding = stride, padding
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.rand(shape) * 0.001)

    def forward(self, x):
        scale = self.weight.abs().mean(dim=(1, 2, 3), keepdim=True).detach()
        binary = scale * torch.sign(self.weight)
        clipped = torch.clamp(self.weight, -1.0, 1.0)
        weight = binary.detach() - clipped.detach() + clipped
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding)


def _binary_conv(stage, cin, cout, kernel_size, stride):
    padding = kernel_size // 2
    if stage == 2:
        return HardBinaryConv(cin, cout, kernel_size, stride, padding)
    return nn.Conv2d(cin, cout, kernel_size, stride, padding, bias=False)


class FirstConv3x3(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn1(self.conv1(x))


class ReActNetABlock(nn.Module):
    def __init__(self, inplanes, planes, stride, stage):
        super().__init__()
        self.move11 = LearnableBias(inplanes)
        self.binary_3x3 = _binary_conv(stage, inplanes, inplanes, 3, stride)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.move12 = LearnableBias(inplanes)
        self.prelu1 = nn.PReLU(inplanes)
        self.move13 = LearnableBias(inplanes)
        self.move21 = LearnableBias(inplanes)
        if inplanes == planes:
            self.binary_pw = _binary_conv(stage, inplanes, planes, 1, 1)
            self.bn2 = nn.BatchNorm2d(planes)
        else:
            assert planes == 2 * inplanes
            self.binary_pw_down1 = _binary_conv(stage, inplanes, inplanes, 1, 1)
            self.binary_pw_down2 = _binary_conv(stage, inplanes, inplanes, 1, 1)
            self.bn2_1 = nn.BatchNorm2d(inplanes)
            self.bn2_2 = nn.BatchNorm2d(inplanes)
        self.move22 = LearnableBias(planes)
        self.prelu2 = nn.PReLU(planes)
        self.move23 = LearnableBias(planes)
        self.binary_activation = BinaryActivation()
        self.stride, self.inplanes, self.planes = stride, inplanes, planes
        if inplanes != planes:
            self.pooling = nn.AvgPool2d(2, 2)

    def forward(self, x):
        out1 = self.bn1(self.binary_3x3(self.binary_activation(self.move11(x))))
        if self.stride == 2:
            x = F.avg_pool2d(x, 2, 2)
        out1 = x + out1
        out1 = self.move13(self.prelu1(self.move12(out1)))
        binary = self.binary_activation(self.move21(out1))
        if self.inplanes == self.planes:
            out2 = self.bn2(self.binary_pw(binary)) + out1
        else:
            down1 = self.bn2_1(self.binary_pw_down1(binary)) + out1
            down2 = self.bn2_2(self.binary_pw_down2(binary)) + out1
            out2 = torch.cat([down1, down2], dim=1)
        return self.move23(self.prelu2(self.move22(out2)))


class ReActNetA(nn.Module):
    def __init__(
        self, num_classes=1000, stage=2, width_multiplier=1.0, small_input=False, in_channels=3
    ):
        super().__init__()
        widths = _scaled_widths(REACTNET_A_WIDTHS, width_multiplier)
        downsampling = (2, 4) if small_input else (2, 4, 6, 12)
        self.feature = nn.ModuleList(
            [FirstConv3x3(in_channels, widths[0], 1 if small_input else 2)]
        )
        for i in range(1, len(widths)):
            stride = 2 if i in downsampling else 1
            self.feature.append(ReActNetABlock(widths[i - 1], widths[i], stride, stage))
        self.pool1 = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        for block in self.feature:
            x = block(x)
        return self.fc(torch.flatten(self.pool1(x), 1))


class ReActNet18Block(nn.Module):
    def __init__(self, inplanes, planes, stride, stage, downsample=None):
        super().__init__()
        self.move0 = LearnableBias(inplanes)
        self.binary_activation = BinaryActivation()
        self.binary_conv = _binary_conv(stage, inplanes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.move1 = LearnableBias(planes)
        self.prelu = nn.PReLU(planes)
        self.move2 = LearnableBias(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn1(self.binary_conv(self.binary_activation(self.move0(x))))
        residual = self.downsample(x) if self.downsample is not None else x
        return self.move2(self.prelu(self.move1(out + residual)))


class ReActNet18(nn.Module):
    def __init__(
        self, num_classes=1000, stage=2, width_multiplier=1.0, small_input=False, in_channels=3
    ):
        super().__init__()
        widths = _scaled_widths((64, 64, 128, 256, 512), width_multiplier)
        self.small_input = small_input
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 1 if small_input else 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        downsampling_layers = (2, 3) if small_input else (2, 3, 4)
        for layer in range(1, 5):
            blocks = []
            for block in range(4):
                stride = 2 if block == 0 and layer in downsampling_layers else 1
                planes = widths[layer]
                downsample = None
                if stride != 1 or inplanes != planes:
                    # Index 0 is the (parameter-free) pooling, as in the official Sequential.
                    pool = nn.AvgPool2d(2, stride) if stride == 2 else nn.Identity()
                    downsample = nn.Sequential(
                        pool, nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
                    )
                blocks.append(ReActNet18Block(inplanes, planes, stride, stage, downsample))
                inplanes = planes
            setattr(self, f"layer{layer}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        if not self.small_input:
            x = self.maxpool(x)
        for layer in range(1, 5):
            x = getattr(self, f"layer{layer}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Gives every parameter and BatchNorm statistic random values (eval-mode parity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            noise = torch.rand(tensor.shape, generator=generator)
            if (
                name.endswith("running_var")
                or name.endswith(("bn1.weight", "bn2.weight", "bn2_1.weight", "bn2_2.weight"))
                or (".downsample.2.weight" in name)
            ):
                tensor.copy_(0.5 + noise)
            elif (
                name.endswith("prelu1.weight")
                or name.endswith("prelu2.weight")
                or (name.endswith("prelu.weight"))
            ):
                tensor.copy_(0.5 * noise)
            else:
                tensor.copy_(noise - 0.5)
    return model
