import numpy as np
import pytest
from paddle.io.dataloader.collate import default_collate_fn

from ppkpt.data.transforms.detection import (CenterNetTarget, RandomCropBox, RandomHFlipBox,
                                             draw_gaussian, gaussian_radius)
from ppkpt.data.transforms.preprocess import DetResize


def _record(width=100, height=50, boxes=((10, 5, 30, 25),), classes=(0,)):
    return {'image': np.random.randint(0, 255, (height, width, 3), dtype=np.uint8),
            'image_file': 'synthetic.jpg',
            'gt_bbox': np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            'gt_class': np.asarray(classes, dtype=np.int32).reshape(-1, 1)}


def _position_image(width, height):
    """Pixel (y, x) holds (x, y, 0), so a crop reveals where it came from."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs, ys, np.zeros_like(xs)], axis=2).astype(np.uint8)


def test_det_resize_stretches_and_scales_boxes():
    out = DetResize(target_size=[64, 32])(_record())
    assert out['image'].shape == (32, 64, 3)
    np.testing.assert_allclose(out['scale_factor'], [0.64, 0.64])
    np.testing.assert_allclose(out['gt_bbox'], [[6.4, 3.2, 19.2, 16.0]], rtol=1e-6)
    out = DetResize(target_size=[50, 100])(_record())
    np.testing.assert_allclose(out['scale_factor'], [2.0, 0.5])
    np.testing.assert_allclose(out['gt_bbox'], [[5, 10, 15, 50]])


def test_det_resize_keep_ratio_pads_bottom_right():
    record = _record()
    record['image'][:] = 200
    out = DetResize(target_size=[64, 64], keep_ratio=True)(record)
    assert out['image'].shape == (64, 64, 3)
    np.testing.assert_allclose(out['scale_factor'], [0.64, 0.64])
    assert (out['image'][:32] == 200).all() and (out['image'][32:] == 0).all()
    np.testing.assert_allclose(out['gt_bbox'], [[6.4, 3.2, 19.2, 16.0]], rtol=1e-6)


def test_det_resize_rejects_bad_size_and_missing_image():
    with pytest.raises(ValueError, match='target_size'):
        DetResize(target_size=[64])
    with pytest.raises(KeyError, match='image'):
        DetResize(target_size=[64, 64])({'image_file': 'a.jpg'})


def test_hflip_mirrors_image_and_boxes():
    record = _record()
    image = record['image'].copy()
    out = RandomHFlipBox(prob=1.0)(record)
    np.testing.assert_array_equal(out['image'], image[:, ::-1])
    np.testing.assert_allclose(out['gt_bbox'], [[70, 5, 90, 25]])
    kept = RandomHFlipBox(prob=0.0)(_record())
    np.testing.assert_allclose(kept['gt_bbox'], [[10, 5, 30, 25]])


def test_random_crop_keeps_boxes_consistent_with_the_window():
    np.random.seed(3)
    boxes = [[10, 10, 40, 30], [150, 80, 190, 110], [60, 40, 120, 100]]
    for _ in range(20):
        record = _record(200, 120, boxes, classes=[0, 1, 2])
        record['image'] = _position_image(200, 120)
        out = RandomCropBox(min_scale=0.5, prob=1.0)(record)
        height, width = out['image'].shape[:2]
        assert width >= 100 and height >= 60
        x0, y0 = int(out['image'][0, 0, 0]), int(out['image'][0, 0, 1])
        assert len(out['gt_bbox']) == len(out['gt_class']) >= 1
        for box, cls in zip(out['gt_bbox'], out['gt_class'][:, 0]):
            original = np.asarray(boxes[cls], dtype=np.float32)
            centre = (original[:2] + original[2:]) / 2 - [x0, y0]
            assert 0 <= centre[0] < width and 0 <= centre[1] < height
            expected = np.clip(original - [x0, y0, x0, y0], 0, [width, height, width, height])
            np.testing.assert_allclose(box, expected)


def test_gaussian_radius_known_value_and_growth():
    assert gaussian_radius(10, 10, 0.7) == pytest.approx((-28 + 1120 ** 0.5) / 2, abs=1e-6)
    assert gaussian_radius(40, 20) > gaussian_radius(20, 10)


def test_draw_gaussian_peak_and_clipping():
    heatmap = np.zeros((8, 8), np.float32)
    draw_gaussian(heatmap, (0, 7), radius=3)
    assert heatmap[7, 0] == 1.0
    assert heatmap.argmax() == 7 * 8
    assert 0 < heatmap[7, 1] < 1 and heatmap[0, 7] == 0


def test_centernet_target_peak_at_box_centre():
    record = _record(64, 64, boxes=[[8, 16, 40, 48], [9, 17, 43, 47]], classes=[0, 1])
    out = CenterNetTarget(num_classes=2, down_ratio=4, max_objs=4)(record)
    assert 'gt_bbox' not in out and 'gt_class' not in out
    assert out['heatmap'].shape == (2, 16, 16) and out['heatmap'].dtype == np.float32
    assert np.unravel_index(out['heatmap'][0].argmax(), (16, 16)) == (8, 6)
    assert out['heatmap'][0, 8, 6] == 1.0 and out['heatmap'][1, 8, 6] == 1.0
    assert (out['heatmap'] == 1.0).sum() == 2
    np.testing.assert_allclose(out['size'][:2], [[8, 8], [8.5, 7.5]])
    np.testing.assert_allclose(out['offset'][:2], [[0, 0], [0.5, 0]])
    np.testing.assert_array_equal(out['index'], [8 * 16 + 6, 8 * 16 + 6, 0, 0])
    np.testing.assert_array_equal(out['index_mask'], [1, 1, 0, 0])
    assert out['index'].dtype == np.int64


def test_centernet_target_truncates_and_collates():
    boxes = [[4 * i, 0, 4 * i + 8, 8] for i in range(6)]
    target = CenterNetTarget(max_objs=3)
    samples = [target(_record(64, 32, boxes, [0] * 6)), target(_record(64, 32, boxes[:1], [0]))]
    assert samples[0]['index_mask'].sum() == 3
    batch = default_collate_fn([{k: s[k] for k in ('heatmap', 'size', 'index', 'index_mask')}
                                for s in samples])
    assert batch['heatmap'].shape == (2, 1, 8, 16)
    assert batch['size'].shape == (2, 3, 2)
    np.testing.assert_array_equal(batch['index_mask'], [[1, 1, 1], [1, 0, 0]])


def test_centernet_target_errors_name_the_problem():
    with pytest.raises(ValueError, match=r'gt_class\[0\] = 3'):
        CenterNetTarget(num_classes=2)(_record(64, 64, classes=[3]))
    with pytest.raises(ValueError, match='not divisible'):
        CenterNetTarget()(_record(66, 64))
    with pytest.raises(KeyError, match='gt_bbox'):
        CenterNetTarget()({'image': np.zeros((8, 8, 3), np.uint8)})
