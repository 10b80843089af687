"""A tiny two-part network for the checkpoint and weight-loading tests."""
import paddle


class Backbone(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.bn = paddle.nn.BatchNorm2D(4)

    def forward(self, x):
        return paddle.nn.functional.relu(self.bn(self.conv(x)))


class PoseNet(paddle.nn.Layer):
    """A backbone and a 1x1 head with one output channel per joint."""

    def __init__(self, num_joints=3):
        super().__init__()
        self.backbone = Backbone()
        self.final = paddle.nn.Conv2D(4, num_joints, 1)

    def forward(self, x):
        return self.final(self.backbone(x))


def tiny_posenet(num_joints: int = 3, seed: int = 0) -> PoseNet:
    """A seeded :class:`PoseNet`."""
    paddle.seed(seed)
    return PoseNet(num_joints)


def numpy_state(model: paddle.nn.Layer) -> dict:
    """The state_dict as numpy copies."""
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}
