import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import ppkpt.data.transforms as transforms
from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.core.workspace import ConfigError, LazyObject, build_object
from ppkpt.data.transforms.common import Compose
from ppkpt.data.transforms.preprocess import NormalizeImage, Permute
from ppkpt.data.transforms.topdown import (GenerateTarget, RandomFlipHalfBodyTransform,
                                           TopDownAffine, TopDownGetRandomScaleRotation,
                                           TopDownRandomFlip, TopDownRandomShiftBboxCenter)
from ppkpt.geometry import affine_transform_points, box_to_center_scale, crop_matrix

COCO_DIR = Path(__file__).resolve().parents[1] / 'coco'
TRAINSIZE = [192, 256]
COCO_PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
UPPER_IDS = list(range(11))
HMSIZE = [48, 64]


def codec(target_type='gaussian', sigma=2.0, input_size=TRAINSIZE, heatmap_size=HMSIZE):
    return HeatmapCodec(list(input_size), list(heatmap_size), sigma, target_type)


@pytest.fixture(scope='module')
def coco_person():
    """Image 785 of the COCO fixture and its one annotated person (17 visible joints)."""
    coco = json.loads((COCO_DIR / 'test_coco.json').read_text())
    ann = next(a for a in coco['annotations'] if a['image_id'] == 785)
    image = cv2.cvtColor(cv2.imread(str(COCO_DIR / '000000000785.jpg')), cv2.COLOR_BGR2RGB)
    return image, ann


def make_record(coco_person, hide=()):
    image, ann = coco_person
    kpts = np.array(ann['keypoints'], dtype=np.float32).reshape(-1, 3)
    joints = np.zeros((17, 3), dtype=np.float32)
    joints[:, :2] = kpts[:, :2]
    vis = np.zeros((17, 3), dtype=np.float32)
    vis[:, :2] = np.minimum(kpts[:, 2:3], 1)
    for k in hide:
        joints[k] = 0
        vis[k] = 0
    center, scale = box_to_center_scale(ann['bbox'], TRAINSIZE[0] / TRAINSIZE[1])
    return {'image': image.copy(), 'image_file': str(COCO_DIR / '000000000785.jpg'),
            'im_id': 785, 'center': center, 'scale': scale, 'rotate': 0.0, 'score': 1.0,
            'gt_joints': joints, 'joints_vis': vis}


def expected_flip(record, pairs):
    width = record['image'].shape[1]
    joints = record['gt_joints'].copy()
    vis = record['joints_vis'].copy()
    for a, b in pairs:
        joints[[a, b]] = joints[[b, a]]
        vis[[a, b]] = vis[[b, a]]
    joints[:, 0] = width - 1 - joints[:, 0]
    joints[:, :2] *= vis[:, :2]
    return joints, vis


# --------------------------------------------------------------------------- flips


def test_random_flip_mirrors_image_joints_and_center(coco_person):
    record = make_record(coco_person, hide=[3])
    original = {k: np.copy(v) for k, v in record.items() if isinstance(v, np.ndarray)}
    out = TopDownRandomFlip(flip_perm=COCO_PAIRS, flip_prob=1.0)(record)
    joints, vis = expected_flip({k: original[k] for k in ('image', 'gt_joints', 'joints_vis')},
                                COCO_PAIRS)
    np.testing.assert_array_equal(out['image'], original['image'][:, ::-1])
    np.testing.assert_allclose(out['gt_joints'], joints)
    np.testing.assert_array_equal(out['joints_vis'], vis)
    np.testing.assert_allclose(out['gt_joints'][2, 0], 640 - 1 - original['gt_joints'][1, 0])
    assert out['joints_vis'][4, 0] == 0 and out['gt_joints'][4, 0] == 0  # hidden 3 moved to 4
    np.testing.assert_allclose(out['center'], [640 - 1 - original['center'][0],
                                               original['center'][1]])


def test_random_flip_probability_is_flip_prob_not_its_complement(coco_person):
    small = {'image': coco_person[0][:8, :10].copy(), 'gt_joints': np.zeros((2, 3), np.float32),
             'joints_vis': np.ones((2, 3), np.float32), 'center': np.array([4.0, 4.0])}
    op = TopDownRandomFlip(flip_perm=[[0, 1]], flip_prob=0.2)
    np.random.seed(0)
    flips = sum(op(dict(small))['center'][0] != 4.0 for _ in range(2000))
    assert 300 < flips < 500
    never = TopDownRandomFlip(flip_prob=0.0)
    record = dict(small)
    assert never(record)['image'] is small['image']


def test_random_flip_names_bad_pair(coco_person):
    op = TopDownRandomFlip(flip_perm=[[1, 20]], flip_prob=1.0)
    with pytest.raises(ValueError, match=r'\[1, 20\].*17 joints'):
        op(make_record(coco_person))


def test_flip_perm_comes_from_the_shared_config_key():
    op = build_object({'TopDownRandomFlip': {'flip_prob': 1.0}},
                      'TrainReader.sample_transforms[0]', {'flip_perm': [[1, 2], [3, 4]]})
    assert op.flip_perm == [[1, 2], [3, 4]] and op.flip_prob == 1.0


def test_half_body_flip_only(monkeypatch, coco_person):
    record = make_record(coco_person)
    before = make_record(coco_person)
    op = RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, UPPER_IDS, scale=0.0, rot_prob=0.0,
                                     prob_half_body=0.0)
    monkeypatch.setattr(np.random, 'rand', lambda: 0.0)
    out = op(record)
    joints, vis = expected_flip(before, COCO_PAIRS)
    np.testing.assert_allclose(out['gt_joints'], joints)
    np.testing.assert_array_equal(out['joints_vis'], vis)
    np.testing.assert_array_equal(out['image'], before['image'][:, ::-1])
    np.testing.assert_allclose(out['scale'], before['scale'])
    assert out['rotate'] == 0.0


@pytest.mark.parametrize('randn, ids', [(0.0, UPPER_IDS), (1.0, list(range(11, 17)))])
def test_half_body_selects_upper_or_lower_joints(monkeypatch, coco_person, randn, ids):
    record = make_record(coco_person)
    joints = record['gt_joints'][ids, :2].astype(np.float64)
    op = RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, UPPER_IDS, scale=0.0, rot_prob=0.0,
                                     prob_half_body=1.0, flip=False)
    monkeypatch.setattr(np.random, 'randn', lambda: randn)
    out = op(record)
    np.testing.assert_allclose(out['center'], joints.mean(axis=0), rtol=1e-5)
    w, h = joints.max(axis=0) - joints.min(axis=0)
    w, h = max(w, h * 0.75), max(h, w / 0.75)
    np.testing.assert_allclose(out['scale'], np.array([w, h]) / 200 * 1.5, rtol=1e-5)


def test_half_body_needs_enough_visible_joints(coco_person):
    record = make_record(coco_person, hide=range(8, 17))  # 8 visible joints, not more than 8
    center = record['center'].copy()
    op = RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, UPPER_IDS, scale=0.0, rot_prob=0.0,
                                     prob_half_body=1.0, flip=False)
    np.testing.assert_allclose(op(record)['center'], center)


def test_half_body_scale_and_rotation_are_clipped(monkeypatch, coco_person):
    record = make_record(coco_person)
    scale = record['scale'].copy()
    op = RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, UPPER_IDS, scale=0.35, rot=40,
                                     prob_half_body=0.0, flip=False, rot_prob=1.0)
    monkeypatch.setattr(np.random, 'randn', lambda: 5.0)
    out = op(record)
    np.testing.assert_allclose(out['scale'], scale * 1.35, rtol=1e-6)
    assert out['rotate'] == 80.0


def test_half_body_requires_upper_ids_and_checks_them(coco_person):
    with pytest.raises(ValueError, match='upper_body_ids is required'):
        RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS)
    op = RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, [0, 30], prob_half_body=1.0)
    with pytest.raises(ValueError, match='index 30 but the record has 17 joints'):
        op(make_record(coco_person))
    with pytest.raises(ValueError, match=r'flip_pairs\[0\]'):
        RandomFlipHalfBodyTransform(TRAINSIZE, [[1, 2, 3]], UPPER_IDS)


def test_half_body_takes_shared_upper_ids_and_pixel_std():
    op = build_object({'RandomFlipHalfBodyTransform': {'trainsize': TRAINSIZE,
                                                       'flip_pairs': COCO_PAIRS}},
                      'TrainReader.sample_transforms[0]',
                      {'upper_body_ids': [0, 1, 2], 'pixel_std': 100})
    assert op.upper_body_ids == [0, 1, 2] and op.pixel_std == 100


def test_random_ops_are_reproducible_with_the_global_seed(coco_person):
    op = RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, UPPER_IDS, prob_half_body=0.5)
    results = []
    for _ in range(2):
        np.random.seed(7)
        results.append([op(make_record(coco_person))['center'] for _ in range(5)])
    np.testing.assert_array_equal(results[0], results[1])


# --------------------------------------------------------------------------- box jitter


def test_shift_bbox_center_stays_within_factor(coco_person):
    op = TopDownRandomShiftBboxCenter(shift_factor=0.16, shift_prob=1.0)
    np.random.seed(1)
    for _ in range(20):
        record = make_record(coco_person)
        center = record['center'].copy()
        out = op(record)
        limit = 0.16 * record['scale'] * 200
        assert np.all(np.abs(out['center'] - center) <= limit + 1e-4)
        assert np.any(out['center'] != center)
    record = make_record(coco_person)
    center = record['center'].copy()
    np.testing.assert_array_equal(TopDownRandomShiftBboxCenter(shift_prob=0.0)(record)['center'],
                                  center)


def test_scale_rotation_ranges(coco_person):
    op = TopDownGetRandomScaleRotation(rot_factor=30, scale_factor=0.25, rot_prob=1.0)
    np.random.seed(2)
    base = make_record(coco_person)['scale']
    rotations = []
    for _ in range(200):
        out = op(make_record(coco_person))
        ratio = out['scale'] / base
        assert 0.75 - 1e-6 <= ratio[0] <= 1.25 + 1e-6
        np.testing.assert_allclose(ratio[0], ratio[1], rtol=1e-5)
        rotations.append(out['rotate'])
    assert max(np.abs(rotations)) <= 60 and np.std(rotations) > 10
    no_rot = TopDownGetRandomScaleRotation(rot_prob=0.0)(make_record(coco_person))
    assert no_rot['rotate'] == 0.0


# --------------------------------------------------------------------------- crops


@pytest.mark.parametrize('use_udp', [False, True])
def test_affine_puts_box_center_at_crop_center(coco_person, use_udp):
    record = make_record(coco_person)
    record['gt_joints'][0, :2] = record['center']
    out = TopDownAffine(codec('udp' if use_udp else 'gaussian'))(record)
    assert out['image'].shape == (256, 192, 3) and out['image'].dtype == np.uint8
    expected = np.array([95.5, 127.5]) if use_udp else np.array([96.0, 128.0])
    np.testing.assert_allclose(out['gt_joints'][0, :2], expected, atol=1e-3)


@pytest.mark.parametrize('use_udp', [False, True])
def test_affine_uses_the_shared_crop_matrix(coco_person, use_udp):
    record = make_record(coco_person, hide=[3])
    record['rotate'] = 30.0
    joints = record['gt_joints'].copy()
    mat = crop_matrix(record['center'], record['scale'].astype(np.float64) * 200, 30.0,
                      TRAINSIZE, use_udp=use_udp)
    expected_image = cv2.warpAffine(record['image'], mat, tuple(TRAINSIZE),
                                    flags=cv2.INTER_LINEAR)
    out = TopDownAffine(codec('udp' if use_udp else 'gaussian'))(record)
    np.testing.assert_array_equal(out['image'], expected_image)
    visible = np.arange(17) != 3
    np.testing.assert_array_equal(out['gt_joints'][visible, :2],
                                  affine_transform_points(joints[visible, :2], mat))
    np.testing.assert_array_equal(out['gt_joints'][3], joints[3])


def test_affine_crop_content_matches_the_image(coco_person):
    record = make_record(coco_person)
    image = record['image']
    joint = record['gt_joints'][5, :2].copy()  # left shoulder, an integer pixel
    out = TopDownAffine(codec())(record)
    x, y = np.round(out['gt_joints'][5, :2]).astype(int)
    crop_patch = out['image'][y - 1:y + 2, x - 1:x + 2].astype(float).mean(axis=(0, 1))
    jx, jy = joint.astype(int)
    image_patch = image[jy - 1:jy + 2, jx - 1:jx + 2].astype(float).mean(axis=(0, 1))
    np.testing.assert_allclose(crop_patch, image_patch, atol=25)


def test_affine_keeps_invisible_joints_and_applies_rotation(coco_person):
    record = make_record(coco_person, hide=[0])
    record['gt_joints'][1, :2] = record['center'] + np.array([20.0, 0.0])
    record['rotate'] = 90.0
    out = TopDownAffine(codec())(record)
    np.testing.assert_array_equal(out['gt_joints'][0], [0, 0, 0])
    zoom = 192 / (record['scale'][0] * 200)
    np.testing.assert_allclose(out['gt_joints'][1, :2], [96.0, 128.0 - 20 * zoom], atol=1e-3)


def test_affine_takes_the_shared_codec_and_pixel_std(coco_person):
    cfg = {'trainsize': TRAINSIZE, 'hmsize': HMSIZE, 'pixel_std': 100,
           'codec': LazyObject('HeatmapCodec', {'target_type': 'udp'})}
    op = build_object({'TopDownAffine': {}}, 'TrainReader.sample_transforms[1]', cfg)
    assert op.trainsize == TRAINSIZE and op.use_udp and op.pixel_std == 100
    record = make_record(coco_person)
    record['gt_joints'][0, :2] = record['center']
    record['scale'] = record['scale'] * 2          # 100 px per unit: the same box in pixels
    np.testing.assert_allclose(op(record)['gt_joints'][0, :2], [95.5, 127.5], atol=1e-3)
    with pytest.raises(ConfigError, match='`use_udp` in .*TopDownAffine.* is now set as '
                                          '`codec.target_type`'):
        build_object({'TopDownAffine': {'use_udp': True}}, 'TrainReader.sample_transforms[1]',
                     cfg)


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize('target_type', ['gaussian', 'dark', 'udp'])
def test_generate_target_encodes_the_crop_with_the_codec(coco_person, target_type):
    the_codec = codec(target_type)
    record = TopDownAffine(the_codec)(make_record(coco_person, hide=[3]))
    joints, vis = record['gt_joints'].copy(), record['joints_vis'].copy()
    out = GenerateTarget(the_codec)(record)
    expected = the_codec.encode(joints[None, :, :2], vis[None, :, 0])
    np.testing.assert_array_equal(out['target'], expected['target'])
    np.testing.assert_array_equal(out['target_weight'], expected['target_weight'])
    assert out['target'].shape == (17, 64, 48) and out['target_weight'].shape == (17, 1)
    assert out['target'].dtype == np.float32 and out['target_weight'].dtype == np.float32
    assert 'gt_joints' not in out and 'joints_vis' not in out
    assert out['target_weight'][3, 0] == 0 and not out['target'][3].any()  # the hidden joint
    inside = out['target_weight'][:, 0] > 0
    assert inside.sum() >= 14
    peaks = out['target'].reshape(17, -1).argmax(axis=1)
    stride = 191 / 47 if target_type == 'udp' else 4.0
    np.testing.assert_allclose((peaks % 48)[inside], joints[inside, 0] / stride, atol=1.0)
    np.testing.assert_allclose((peaks // 48)[inside], joints[inside, 1] / stride, atol=1.0)


def one_joint(x, y, visible=1.0):
    return {'image': np.zeros((10, 10, 3), np.uint8),
            'gt_joints': np.array([[x, y, 0.0]], np.float32),
            'joints_vis': np.array([[visible, visible, 0.0]], np.float32)}


def test_gaussian_target_is_a_windowed_gaussian_on_the_rounded_joint():
    out = GenerateTarget(codec('gaussian'))(one_joint(101.0, 100.0))
    target = out['target'][0]
    # stride 4: (25.25, 25) rounds to (25, 25); peak 1, sigma 2, cut at 3 sigma = 6 px
    assert target[25, 25] == 1.0 and out['target_weight'][0, 0] == 1.0
    np.testing.assert_allclose(target[25, 26], np.exp(-1 / 8), rtol=1e-6)
    np.testing.assert_allclose(target[27, 24], np.exp(-5 / 8), rtol=1e-6)
    assert target[25, 31] > 0 and target[25, 32] == 0 and target[25, 18] == 0


def test_dark_target_is_centred_on_the_exact_position_and_not_windowed():
    target = GenerateTarget(codec('dark'))(one_joint(101.0, 100.0))['target'][0]
    np.testing.assert_allclose(target[25, 25], np.exp(-0.25 ** 2 / 8), rtol=1e-6)
    np.testing.assert_allclose(target[25, 26], np.exp(-0.75 ** 2 / 8), rtol=1e-6)
    np.testing.assert_allclose(target[25, 33], np.exp(-7.75 ** 2 / 8), rtol=1e-5)
    assert target[25, 33] > 0 and target.max() < 1.0


def test_udp_target_uses_the_pixel_centre_stride():
    target = GenerateTarget(codec('udp'))(one_joint(100.0, 100.0))['target'][0]
    ex, ey = 100.0 / (191 / 47), 100.0 / (255 / 63)  # (24.607, 24.706): (W-1)/(w-1) per axis
    assert target.reshape(-1).argmax() == 25 * 48 + 25
    np.testing.assert_allclose(target[25, 25], np.exp(-((25 - ex) ** 2 + (25 - ey) ** 2) / 8),
                               rtol=1e-5)
    np.testing.assert_allclose(target[26, 24], np.exp(-((24 - ex) ** 2 + (26 - ey) ** 2) / 8),
                               rtol=1e-5)
    assert target[25, 31] > 0 and target[25, 32] == 0  # windowed around the rounded pixel


def test_generate_target_weights_hidden_and_outside_joints_zero():
    the_codec = codec('gaussian', sigma=1.0)
    hidden = GenerateTarget(the_codec)(one_joint(100.0, 100.0, visible=0.0))
    assert hidden['target_weight'][0, 0] == 0 and not hidden['target'].any()
    # the window (3 px) of a joint at heatmap x = 52 ends past the 48-wide map
    outside = GenerateTarget(the_codec)(one_joint(208.0, 100.0))
    assert outside['target_weight'][0, 0] == 0 and not outside['target'].any()
    edge = GenerateTarget(the_codec)(one_joint(200.0, 100.0))  # x = 50: the window reaches 47
    assert edge['target_weight'][0, 0] == 1 and edge['target'][0, 25, 47] > 0
    record = one_joint(100.0, 100.0)
    record['joints_vis'][0] = [0.0, 1.0, 0.0]          # only column 0 counts as visible
    assert GenerateTarget(the_codec)(record)['target_weight'][0, 0] == 0


def test_generate_target_takes_the_top_level_codec_only():
    cfg = {'trainsize': TRAINSIZE, 'hmsize': HMSIZE,
           'codec': LazyObject('HeatmapCodec', {'sigma': 3.0, 'target_type': 'dark'})}
    op = build_object({'GenerateTarget': {}}, 'TrainReader.sample_transforms[2]', cfg)
    assert op.codec == codec('dark', sigma=3.0)
    with pytest.raises(ConfigError, match=r'`codec` is set once, at the top level'):
        build_object({'GenerateTarget': {'codec': cfg['codec']}},
                     'TrainReader.sample_transforms[2]', cfg)


def test_the_old_target_ops_are_gone():
    for name in ('ToHeatmapsTopDown', 'ToHeatmapsTopDown_DARK', 'ToHeatmapsTopDown_UDP'):
        assert not hasattr(transforms, name)
        with pytest.raises(ConfigError, match=f'Unknown module `{name}`'):
            build_object({name: {'hmsize': HMSIZE, 'sigma': 2}}, 'ops[0]', {})


def test_train_pipeline_end_to_end(coco_person):
    pipeline = Compose([
        RandomFlipHalfBodyTransform(TRAINSIZE, COCO_PAIRS, UPPER_IDS),
        TopDownAffine(codec('dark')),
        GenerateTarget(codec('dark')),
        NormalizeImage(),
        Permute(),
    ])
    np.random.seed(3)
    out = pipeline(make_record(coco_person))
    assert out['image'].shape == (3, 256, 192) and out['image'].dtype == np.float32
    assert out['target'].shape == (17, 64, 48) and out['target_weight'].shape == (17, 1)
    assert out['center'].shape == (2,) and out['scale'].shape == (2,)
