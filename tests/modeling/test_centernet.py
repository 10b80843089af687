from pathlib import Path

import numpy as np
import paddle
import pytest
from paddle.io.dataloader.collate import default_collate_fn

from ppkpt.core.workspace import create, load_config
from ppkpt.data.datasets.coco_box import COCOBoxDataset
from ppkpt.data.transforms.preprocess import DetResize, NormalizeImage, Permute
from ppkpt.data.transforms.detection import CenterNetTarget
from ppkpt.modeling.architectures.centernet import CenterNet
from ppkpt.modeling.backbones.lite_backbone import LiteBackbone
from ppkpt.modeling.heads.centernet_head import CenterNetHead, CenterNetNeck, decode_centernet
from ppkpt.modeling.losses.centernet_loss import (CenterNetLoss, centernet_focal_loss,
                                                  masked_l1_loss)

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = TESTS_DIR.parent


def _tiny_model(num_classes=1, **kwargs):
    paddle.seed(0)
    backbone = LiteBackbone(width_mult=0.5, stem_channels=16, channels=[16, 16, 32, 32],
                            depths=[1, 1, 1, 1], expand_ratio=2.0)
    head = CenterNetHead(in_channels=16, num_classes=num_classes, head_channels=16)
    return CenterNet(backbone, head, CenterNetLoss(), num_classes=num_classes, **kwargs)


def _coco_batch(count=2):
    ops = [DetResize(target_size=[64, 64]), CenterNetTarget(max_objs=8), NormalizeImage(),
           Permute()]
    dataset = COCOBoxDataset(str(TESTS_DIR / 'data' / 'coco'), '', 'test_coco.json',
                             transform=ops)
    keys = ('image', 'heatmap', 'size', 'offset', 'index', 'index_mask')
    batch = default_collate_fn([{k: dataset[i][k] for k in keys} for i in range(count)])
    return {k: paddle.to_tensor(v) for k, v in batch.items()}


def test_backbone_out_shape_matches_features():
    backbone = LiteBackbone(width_mult=0.5, channels=[16, 24, 32, 48], depths=[1, 2, 1, 1])
    feats = backbone(paddle.rand([1, 3, 64, 96]))
    assert [s.stride for s in backbone.out_shape] == [4, 8, 16, 32]
    for feat, spec in zip(feats, backbone.out_shape):
        assert feat.shape == [1, spec.channels, 64 // spec.stride, 96 // spec.stride]
    with pytest.raises(ValueError, match='4 stages'):
        LiteBackbone(channels=[16, 32])


def test_neck_fuses_maps_whose_size_is_not_a_multiple_of_32():
    backbone = LiteBackbone(width_mult=0.5)
    neck = CenterNetNeck(backbone.out_shape, 16)
    feats = backbone(paddle.zeros([1, 3, 100, 68]))  # strides 4..32: 25x17 down to 4x3
    assert [list(f.shape[2:]) for f in feats] == [[25, 17], [13, 9], [7, 5], [4, 3]]
    assert neck(feats).shape == [1, 16, 25, 17]


def test_head_shapes_and_prior_bias():
    model = _tiny_model(num_classes=3)
    maps = model.predict_maps(paddle.rand([2, 3, 64, 32]))
    assert maps['heatmap'].shape == [2, 3, 16, 8]
    assert maps['size'].shape == maps['offset'].shape == [2, 2, 16, 8]
    bias = model.head.heatmap[-1].bias.numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-bias)), 0.1, atol=2e-3)
    with pytest.raises(ValueError, match='num_classes=2'):
        CenterNet(model.backbone, model.head, CenterNetLoss(), num_classes=2)


def test_decode_finds_synthetic_peak():
    heatmap = np.full((1, 2, 8, 8), -10.0, np.float32)
    heatmap[0, 1, 3, 5] = 5.0
    heatmap[0, 1, 3, 6] = 4.0       # a neighbour of the peak: suppressed by the 3x3 max-pool
    heatmap[0, 0, 6, 1] = 0.0       # a second, weaker object of class 0
    size = np.zeros((1, 2, 8, 8), np.float32)
    size[0, :, 3, 5] = [4.0, 2.0]
    offset = np.zeros((1, 2, 8, 8), np.float32)
    offset[0, :, 3, 5] = [0.5, 0.25]
    scale_factor = paddle.to_tensor([[0.5, 2.0]])
    bbox, bbox_num = decode_centernet(paddle.to_tensor(heatmap), paddle.to_tensor(size),
                                      paddle.to_tensor(offset), scale_factor, stride=4,
                                      max_per_img=10)
    bbox = bbox.numpy()
    assert bbox.shape == (10, 6) and bbox_num.numpy().tolist() == [10]
    assert bbox_num.dtype == paddle.int32
    np.testing.assert_allclose(bbox[0], [1, 1 / (1 + np.exp(-5.0)), 7, 18, 15, 34], rtol=1e-5)
    np.testing.assert_allclose(bbox[1, :2], [0, 0.5])
    assert bbox[2, 1] < 1e-4
    full, num = decode_centernet(paddle.to_tensor(heatmap), paddle.to_tensor(size),
                                 paddle.to_tensor(offset), scale_factor, 4, max_per_img=1000)
    assert full.shape == [128, 6] and num.numpy().tolist() == [128]


def _reference_focal(logits, target, alpha=2.0, beta=4.0):
    prob = 1 / (1 + np.exp(-logits))
    pos = target == 1
    pos_loss = (np.log(prob) * (1 - prob) ** alpha)[pos].sum()
    neg_loss = (np.log(1 - prob) * prob ** alpha * (1 - target) ** beta)[~pos].sum()
    return -(pos_loss + neg_loss) / max(pos.sum(), 1)


def test_focal_and_l1_losses_match_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 1, 6, 6)).astype(np.float32)
    target = rng.uniform(0, 0.9, size=(2, 1, 6, 6)).astype(np.float32)
    target[0, 0, 2, 3] = target[1, 0, 4, 1] = 1.0
    loss = centernet_focal_loss(paddle.to_tensor(logits), paddle.to_tensor(target))
    assert float(loss) == pytest.approx(_reference_focal(logits, target), rel=1e-5)
    pred = rng.normal(size=(2, 2, 6, 6)).astype(np.float32)
    index = np.asarray([[15, 0], [25, 7]], np.int64)
    mask = np.asarray([[1, 0], [1, 1]], np.float32)
    goal = rng.normal(size=(2, 2, 2)).astype(np.float32)
    sampled = pred.reshape(2, 2, 36).transpose(0, 2, 1)[np.arange(2)[:, None], index]
    expected = (np.abs(sampled - goal) * mask[..., None]).sum() / (2 * mask.sum() + 1e-4)
    l1 = masked_l1_loss(*(paddle.to_tensor(v) for v in (pred, index, mask, goal)))
    assert float(l1) == pytest.approx(expected, rel=1e-5)


def test_training_loss_is_finite_and_falls():
    model = _tiny_model()
    model.train()
    batch = _coco_batch()
    optimizer = paddle.optimizer.Adam(learning_rate=5e-3, parameters=model.parameters())
    losses = []
    for _ in range(20):
        out = model(batch)
        assert set(out) == {'loss', 'heatmap_loss', 'size_loss', 'offset_loss'}
        out['loss'].backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(out['loss']))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.6 * losses[0]
    with pytest.raises(KeyError, match='CenterNetTarget'):
        model({'image': batch['image']})


def test_eval_forward_returns_filtered_numpy_boxes():
    model = _tiny_model(max_per_img=5, score_threshold=0.0)
    model.eval()
    image = paddle.rand([2, 3, 64, 64])
    out = model({'image': image, 'scale_factor': np.ones((2, 2), np.float32)})
    assert out['bbox'].shape == (10, 6) and out['bbox'].dtype == np.float32
    assert out['bbox_num'].tolist() == [5, 5] and out['bbox_num'].dtype == np.int32
    model.score_threshold = 0.99
    out = model({'image': image})
    assert out['bbox'].shape == (0, 6) and out['bbox_num'].tolist() == [0, 0]


def test_export_roundtrip_matches_eager(tmp_path):
    model = _tiny_model(max_per_img=20)
    model.eval()
    specs = model.export_input_spec([3, 64, 64])
    assert [s.name for s in specs] == ['image', 'scale_factor']
    assert list(specs[0].shape) == [-1, 3, 64, 64] and list(specs[1].shape) == [-1, 2]
    image = paddle.rand([2, 3, 64, 64])
    scale_factor = paddle.to_tensor([[1.0, 1.0], [0.5, 0.25]])
    bbox, bbox_num = model.export_forward(image, scale_factor)
    static = paddle.jit.to_static(model.export_forward, input_spec=specs, full_graph=True)
    paddle.jit.save(static, str(tmp_path / 'model'))
    loaded = paddle.jit.load(str(tmp_path / 'model'))
    bbox_s, bbox_num_s = loaded(image, scale_factor)
    np.testing.assert_allclose(bbox_s.numpy(), bbox.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bbox_num_s.numpy(), [20, 20])
    with pytest.raises(ValueError, match='image_shape'):
        model.export_input_spec([1, 2, 3, 4])


def test_exported_model_runs_in_onednn_predictor(tmp_path):
    model = _tiny_model(max_per_img=20)
    model.eval()
    static = paddle.jit.to_static(model.export_forward,
                                  input_spec=model.export_input_spec([3, 64, 64]),
                                  full_graph=True)
    paddle.jit.save(static, str(tmp_path / 'model'))
    config = paddle.inference.Config(str(tmp_path / 'model.json'),
                                     str(tmp_path / 'model.pdiparams'))
    config.disable_glog_info()
    assert config.onednn_enabled()
    predictor = paddle.inference.create_predictor(config)
    assert predictor.get_input_names() == ['image', 'scale_factor']
    image = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    scale_factor = np.asarray([[0.5, 0.5]], np.float32)
    for name, value in zip(['image', 'scale_factor'], [image, scale_factor]):
        predictor.get_input_handle(name).copy_from_cpu(value)
    predictor.run()
    bbox, bbox_num = (predictor.get_output_handle(n).copy_to_cpu()
                      for n in predictor.get_output_names())
    eager_bbox, _ = model.export_forward(paddle.to_tensor(image), paddle.to_tensor(scale_factor))
    np.testing.assert_allclose(bbox, eager_bbox.numpy(), rtol=1e-4, atol=1e-4)
    assert bbox_num.tolist() == [20]


def test_builds_from_config():
    cfg = load_config(str(REPO_DIR / 'configs' / 'detector' / 'centernet_lite_320.yml'))
    model = create('CenterNet', cfg)
    assert isinstance(model, CenterNet) and model.stride == 4
    assert model.neck.laterals[0][0]._out_channels == 64
