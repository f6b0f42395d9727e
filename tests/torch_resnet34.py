"""PyTorch ResNet-34 with torchvision's module names, written from its published architecture.

A reference for the ResNet-34 conversion tests without torchvision (whose wheels need a CUDA
build of torch): module names and registration order follow torchvision's `resnet34`
(`conv1`, `bn1`, `relu`, `maxpool`, `layer{1..4}` of `BasicBlock`s with `conv1`, `bn1`,
`conv2`, `bn2` and `downsample = Sequential(conv1x1, BatchNorm2d)`, `avgpool`, `fc`), so
`state_dict()` has torchvision's keys in torchvision's order.
"""

from __future__ import annotations

import torch
from torch import nn

LAYERS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """conv3x3 (stride) - BN - ReLU - conv3x3 - BN, plus the input or `downsample`, ReLU."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet34(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for index, (blocks, planes) in enumerate(zip(LAYERS, WIDTHS, strict=True), start=1):
            stride = 1 if index == 1 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )
            layer = [BasicBlock(inplanes, planes, stride, downsample)]
            layer += [BasicBlock(planes, planes) for _ in range(1, blocks)]
            setattr(self, f"layer{index}", nn.Sequential(*layer))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        # torchvision's initialisation: He-normal (fan-out) convolutions, BatchNorm 1 and 0,
        # the classifier PyTorch's default.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (eval-mode parity).

    Each BatchNorm gets running_mean in [-0.5, 0.5), running_var and gamma in [0.5, 1.5) and
    beta in [-0.5, 0.5); the convolution and classifier weights keep their (torchvision's)
    random initialisation, under which the logits still depend on the image by a few percent
    of their scale, so that parity at 1e-4 of the scale tests the image path, not the biases.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                for tensor, low in (
                    (module.running_mean, -0.5),
                    (module.running_var, 0.5),
                    (module.weight, 0.5),
                    (module.bias, -0.5),
                ):
                    tensor.copy_(low + torch.rand(tensor.shape, generator=generator))
                module.num_batches_tracked.fill_(7)
    return model
