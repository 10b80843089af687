"""Small stand-ins for HigherHRNet's backbone and loss, shared by the HigherHRNet tests."""
import paddle.nn as nn


class StandInLoss(nn.Layer):
    """Stands in for HrHRNetLoss: keeps the head outputs, returns the sum of their means."""

    def forward(self, outputs, inputs):
        self.outputs = outputs
        return {'loss': sum(t.mean() for t in outputs)}


class TinyBackbone(nn.Layer):
    """One stride-4 conv: the 1/4-resolution feature the head needs."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2D(3, channels, 4, stride=4)

    def forward(self, image):
        return [self.conv(image)]
