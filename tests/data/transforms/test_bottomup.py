"""Bottom-up ops: RandomAffine, KeyPointFlip, NormalizePermute, GenerateTarget on bottom-up
records and the eval/deploy EvalAffine."""
import numpy as np
import pytest

from ppkpt.codecs import AssociativeEmbeddingCodec
from ppkpt.core.workspace import ConfigError, LazyObject, build_object, build_ops
from ppkpt.data.transforms.bottomup import KeyPointFlip, NormalizePermute, RandomAffine
from ppkpt.data.transforms.common import Compose
from ppkpt.data.transforms.preprocess import PREPROCESS_OPS, EvalAffine, build_preprocess
from ppkpt.data.transforms.topdown import GenerateTarget
from ppkpt.geometry import affine_transform_points, flip_permutation
from ppkpt.metadata import COCO17_FLIP_PAIRS

K = 17


def blob_image(width, height, center, sigma=2.5):
    """(H, W, 3) uint8 black image with a Gaussian dot at ``center`` (x, y) in the bottom-up
    convention (pixel i covers [i, i + 1), so its centre is i + 0.5)."""
    xs, ys = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    dot = 255.0 * np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * sigma ** 2))
    return np.repeat(np.round(dot)[..., None], 3, axis=2).astype(np.uint8)


def centroid(image):
    """Intensity-weighted centre (x, y) of channel 0, in the bottom-up convention."""
    weight = image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[:weight.shape[0], :weight.shape[1]]
    return np.array([(weight * (xs + 0.5)).sum(), (weight * (ys + 0.5)).sum()]) / weight.sum()


def random_people(num_people, width, height, seed=0, num_joints=K):
    """(M, K, 3) float32 people inside a ``width`` x ``height`` image, v in {0, 2}."""
    rng = np.random.default_rng(seed)
    joints = np.zeros((num_people, num_joints, 3), dtype=np.float32)
    joints[..., 0] = rng.uniform(4, width - 4, (num_people, num_joints))
    joints[..., 1] = rng.uniform(4, height - 4, (num_people, num_joints))
    joints[..., 2] = np.where(rng.uniform(size=(num_people, num_joints)) > 0.2, 2.0, 0.0)
    return joints


def record_of(width, height, joints, mask=None, seed=0):
    record = {'image': np.random.default_rng(seed).integers(0, 255, (height, width, 3),
                                                             dtype=np.uint8),
              'gt_joints': joints, 'image_file': 'x.jpg', 'im_id': 1}
    if mask is not None:
        record['mask'] = mask
    return record


# ----------------------------------------------------------------------------- RandomAffine

@pytest.mark.parametrize('seed', [0, 1, 2])
def test_random_affine_moves_a_bright_dot_exactly_with_its_joint(seed):
    dot = np.array([70.3, 55.7])
    record = {'image': blob_image(160, 120, dot),
              'gt_joints': np.array([[[dot[0], dot[1], 2.0]]], dtype=np.float32)}
    # zoom about 1.9: a half-pixel convention slip would move the dot by about 0.45 px
    op = RandomAffine(max_degree=30, scale=[0.5, 0.6], max_shift=0.05, trainsize=[128, 128],
                      boldervalue=[0, 0, 0])
    np.random.seed(seed)
    out = op(record)
    assert out['image'].shape == (128, 128, 3) and out['image'].dtype == np.uint8
    joint = out['gt_joints'][0, 0]
    assert joint[2] == 2.0
    np.testing.assert_allclose(centroid(out['image']), joint[:2], atol=0.05)


def test_random_affine_draws_from_the_seeded_global_generator():
    joints = random_people(3, 200, 150)
    op = RandomAffine(trainsize=[128, 128])
    np.random.seed(5)
    first = op(record_of(200, 150, joints))
    np.random.seed(5)
    second = op(record_of(200, 150, joints))
    np.random.seed(5)
    mat = op.random_matrix(200, 150)
    for key in ('image', 'gt_joints', 'mask_1x', 'mask_2x'):
        np.testing.assert_array_equal(first[key], second[key])
    np.testing.assert_allclose(first['gt_joints'][..., :2],
                               affine_transform_points(joints[..., :2], mat), atol=1e-4)


def mask_label(points, width, height, box):
    """1 where image points (N, 2) are inside the image and outside ``box`` (x1, y1, x2, y2)."""
    x, y = points[:, 0], points[:, 1]
    inside_image = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    in_box = (x >= box[0]) & (x < box[2]) & (y >= box[1]) & (y < box[3])
    return (inside_image & ~in_box).astype(np.float32)


@pytest.mark.parametrize('seed', [0, 3])
def test_random_affine_warps_the_mask_to_both_heatmap_resolutions(seed):
    width, height, box = 200, 160, (40, 30, 100, 90)
    mask = np.ones((height, width), dtype=np.float32)
    mask[box[1]:box[3], box[0]:box[2]] = 0.0
    op = RandomAffine(trainsize=[128, 128], max_shift=0.1)
    np.random.seed(seed)
    mat = op.random_matrix(width, height)
    np.random.seed(seed)
    out = op(record_of(width, height, random_people(2, width, height), mask))
    assert 'mask' not in out
    to_image = np.linalg.inv(np.vstack([mat, [0, 0, 1]]))[:2]
    for key, stride in (('mask_1x', 4), ('mask_2x', 2)):
        size = 128 // stride
        assert out[key].shape == (size, size) and out[key].dtype == np.float32
        cells = np.stack(np.meshgrid(np.arange(size), np.arange(size)), -1).reshape(-1, 2)
        centres = affine_transform_points((cells + 0.5) * stride, to_image)
        expected = mask_label(centres, width, height, box)
        # compare the cells whose neighbourhood (1.5 cells, any direction) has one label
        reach = 1.5 * stride * np.linalg.norm(to_image[:, :2], 2)
        steady = np.ones(len(cells), dtype=bool)
        for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
            step = reach * np.array([np.cos(angle), np.sin(angle)])
            steady &= mask_label(centres + step, width, height, box) == expected
        assert steady.sum() > 0.5 * len(cells) and 0 < expected[steady].mean() < 1
        np.testing.assert_array_equal(out[key].reshape(-1)[steady], expected[steady])


def test_random_affine_without_a_mask_counts_the_image_and_ignores_the_padding():
    op = RandomAffine(max_degree=0, scale=[1.0, 1.0], max_shift=0, trainsize=[128, 128],
                      scale_type='long')
    out = op(record_of(200, 100, random_people(1, 200, 100)))
    # zoom 0.64: the image fills rows [32, 96) of the input, rows [16, 48) of mask_2x
    expected = np.zeros((64, 64), dtype=np.float32)
    expected[16:48] = 1.0
    np.testing.assert_array_equal(out['mask_2x'], expected)
    np.testing.assert_array_equal(out['mask_1x'], expected[::2, ::2])


def test_random_affine_zeroes_the_joints_that_leave_the_image():
    joints = np.array([[[100.0, 100.0, 2.0], [60.0, 100.0, 1.0], [10.0, 10.0, 2.0],
                        [100.0, 190.0, 2.0], [100.0, 100.0, 0.0]]], dtype=np.float32)
    op = RandomAffine(max_degree=0, scale=[0.5, 0.5], max_shift=0, trainsize=[128, 128])
    out = op(record_of(200, 200, joints))['gt_joints']  # zoom 1.28 about (100, 100)
    np.testing.assert_allclose(out[0, :2, :2], [[64.0, 64.0], [12.8, 64.0]], atol=1e-4)
    np.testing.assert_array_equal(out[0, :, 2], [2.0, 1.0, 0.0, 0.0, 0.0])


def test_random_affine_takes_the_shared_trainsize_and_checks_its_arguments():
    op = build_object({'RandomAffine': {'scale_type': 'long'}}, 'sample_transforms[0]',
                      {'trainsize': 256})
    assert op.trainsize == (256, 256) and op.hmsize == [(64, 64), (128, 128)]
    assert RandomAffine(trainsize=512, hmsize=[128, 256]).hmsize == [(128, 128), (256, 256)]
    assert RandomAffine(trainsize=[256, 128]).hmsize == [(64, 32), (128, 64)]
    with pytest.raises(ValueError, match="scale_type must be 'short' or 'long'"):
        RandomAffine(scale_type='wh')
    with pytest.raises(ValueError, match='divisible by 4'):
        RandomAffine(trainsize=[130, 128])
    with pytest.raises(ValueError, match=r'hmsize must be two sizes'):
        RandomAffine(hmsize=[128])
    with pytest.raises(ValueError, match=r'scale must be \[min, max\]'):
        RandomAffine(scale=[1.5, 0.75])


# ----------------------------------------------------------------------------- KeyPointFlip

def masked_record(width=128, height=96, people=3):
    record = record_of(width, height, random_people(people, width, height, seed=4))
    rng = np.random.default_rng(9)
    record['mask_1x'] = (rng.uniform(size=(height // 4, width // 4)) > 0.5).astype(np.float32)
    record['mask_2x'] = (rng.uniform(size=(height // 2, width // 2)) > 0.5).astype(np.float32)
    return record


def test_keypoint_flip_twice_is_the_identity():
    original = masked_record()
    op = KeyPointFlip(COCO17_FLIP_PAIRS, flip_prob=1.0)
    once = op({key: np.copy(value) for key, value in original.items()})
    twice = op({key: np.copy(value) for key, value in once.items()})
    assert not np.array_equal(once['image'], original['image'])
    for key in ('image', 'mask_1x', 'mask_2x'):
        np.testing.assert_array_equal(twice[key], original[key], err_msg=key)
    np.testing.assert_allclose(twice['gt_joints'], original['gt_joints'], rtol=0, atol=1e-5)


def test_keypoint_flip_mirrors_x_and_renames_the_pairs():
    record = masked_record()
    image, mask, joints = record['image'], record['mask_1x'], record['gt_joints']
    out = KeyPointFlip(COCO17_FLIP_PAIRS, flip_prob=1.0)(record)
    np.testing.assert_array_equal(out['image'], image[:, ::-1])
    np.testing.assert_array_equal(out['mask_1x'], mask[:, ::-1])
    for left, right in [[0, 0]] + COCO17_FLIP_PAIRS:
        np.testing.assert_allclose(out['gt_joints'][:, right, 0], 128 - joints[:, left, 0])
        np.testing.assert_array_equal(out['gt_joints'][:, right, 1:], joints[:, left, 1:])
        np.testing.assert_allclose(out['gt_joints'][:, left, 0], 128 - joints[:, right, 0])


def test_flipped_targets_are_the_mirrored_targets_of_the_codec():
    codec = AssociativeEmbeddingCodec(input_size=[128, 96])
    record = masked_record()
    plain = codec.encode(record['gt_joints'][..., :2], record['gt_joints'][..., 2] > 0)
    flipped = KeyPointFlip(COCO17_FLIP_PAIRS, flip_prob=1.0)(record)['gt_joints']
    mirrored = codec.encode(flipped[..., :2], flipped[..., 2] > 0)
    perm = flip_permutation(COCO17_FLIP_PAIRS, K)
    for key in ('heatmap_gt1x', 'heatmap_gt2x'):
        np.testing.assert_allclose(mirrored[key], plain[key][perm][:, :, ::-1], atol=1e-6)


def test_keypoint_flip_accepts_paddledetection_permutations_and_checks_them():
    full = flip_permutation(COCO17_FLIP_PAIRS, K).tolist()
    by_pairs = KeyPointFlip(COCO17_FLIP_PAIRS, flip_prob=1.0)(masked_record())
    by_perm = KeyPointFlip(full, flip_prob=1.0)(masked_record())
    np.testing.assert_array_equal(by_perm['gt_joints'], by_pairs['gt_joints'])
    untouched = masked_record()
    np.testing.assert_array_equal(KeyPointFlip(full, flip_prob=0.0)(masked_record())['image'],
                                  untouched['image'])
    with pytest.raises(ValueError, match='mixes ints and pairs'):
        KeyPointFlip([0, [1, 2]])
    with pytest.raises(ValueError, match='not a permutation'):
        KeyPointFlip([0, 0, 1])
    with pytest.raises(ValueError, match='has 3 entries but the record has 17 joints'):
        KeyPointFlip([0, 2, 1], flip_prob=1.0)(masked_record())


def test_keypoint_flip_takes_the_shared_flip_perm():
    op = build_object({'KeyPointFlip': {}}, 'sample_transforms[1]',
                      {'flip_perm': COCO17_FLIP_PAIRS})
    assert op.flip_permutation == COCO17_FLIP_PAIRS and op.flip_prob == 0.5
    with pytest.raises(ConfigError, match=r'now set as `RandomAffine.hmsize'):
        build_object({'KeyPointFlip': {'hmsize': [128, 256]}}, 'sample_transforms[1]',
                     {'flip_perm': COCO17_FLIP_PAIRS})


# ----------------------------------------------------------------------------- targets

def test_generate_target_encodes_all_people_of_a_bottom_up_record():
    codec = AssociativeEmbeddingCodec(input_size=[128, 96], max_num_people=5)
    record = masked_record()
    joints = record['gt_joints'].copy()
    out = GenerateTarget(codec)(record)
    expected = codec.encode(joints[..., :2], joints[..., 2] > 0)
    assert 'gt_joints' not in out and out['mask_1x'].shape == (24, 32)
    assert set(expected) == {'heatmap_gt1x', 'heatmap_gt2x', 'tagmap'}
    for key, value in expected.items():
        np.testing.assert_array_equal(out[key], value)
    assert out['tagmap'][:3, :, 1].sum() == (joints[..., 2] > 0).sum()


def test_generate_target_rejects_masks_that_do_not_fit_the_codec():
    codec = AssociativeEmbeddingCodec(input_size=[256, 192])
    with pytest.raises(ValueError, match=r'mask_1x has shape \(24, 32\) but the codec makes '
                                         r'heatmap_gt1x maps of \(48, 64\)'):
        GenerateTarget(codec)(masked_record())


def bottom_up_chain(codec, trainsize):
    return Compose([RandomAffine(max_degree=0, scale=[1.0, 1.0], max_shift=0,
                                 trainsize=trainsize),
                    KeyPointFlip(COCO17_FLIP_PAIRS, flip_prob=0.5), GenerateTarget(codec),
                    NormalizePermute()])


def test_an_image_without_people_trains_on_zero_targets():
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    np.random.seed(0)
    out = bottom_up_chain(codec, [128, 128])(
        record_of(160, 120, np.zeros((0, K, 3), np.float32)))
    assert out['image'].shape == (3, 128, 128)
    assert out['heatmap_gt1x'].shape == (K, 32, 32) and not out['heatmap_gt1x'].any()
    assert out['heatmap_gt2x'].shape == (K, 64, 64) and not out['heatmap_gt2x'].any()
    assert out['tagmap'].shape == (30, K, 2) and not out['tagmap'].any()
    assert out['mask_2x'].shape == (64, 64) and out['mask_2x'].any()


def test_a_person_with_one_visible_joint_gets_one_peak_and_one_tag():
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    joints = np.zeros((1, K, 3), np.float32)
    joints[0, 5] = [60.0, 64.0, 2.0]
    np.random.seed(0)
    out = bottom_up_chain(codec, [128, 128])(record_of(128, 128, joints))
    peaks = out['heatmap_gt2x'].reshape(K, -1).max(axis=1)
    assert np.count_nonzero(peaks) == 1 and peaks.max() == pytest.approx(1.0)
    assert out['tagmap'][..., 1].sum() == 1


def test_more_people_than_max_num_people_tags_the_first_ones_and_draws_all():
    codec = AssociativeEmbeddingCodec(input_size=[128, 128], max_num_people=4)
    joints = random_people(9, 128, 128, seed=2)
    joints[..., 2] = 2.0
    out = GenerateTarget(codec)(record_of(128, 128, joints.copy()))
    assert out['tagmap'].shape == (4, K, 2) and out['tagmap'][..., 1].all()
    cells = np.floor(joints[8, :, :2] / 2).astype(int)  # the last person, at stride 2
    np.testing.assert_allclose(out['heatmap_gt2x'][np.arange(K), cells[:, 1], cells[:, 0]], 1.0)


def test_normalize_permute_normalises_and_makes_chw():
    image = np.random.default_rng(0).integers(0, 255, (6, 5, 3), dtype=np.uint8)
    out = NormalizePermute(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])({'image': image})
    expected = ((image / 255.0 - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.3]).transpose(2, 0, 1)
    assert out['image'].shape == (3, 6, 5) and out['image'].dtype == np.float32
    np.testing.assert_allclose(out['image'], expected, atol=1e-5)


def test_the_training_ops_build_from_a_config():
    cfg = {'trainsize': [128, 128], 'flip_perm': COCO17_FLIP_PAIRS,
           'codec': LazyObject('AssociativeEmbeddingCodec', {'max_num_people': 8})}
    ops = build_ops([{'RandomAffine': {'max_degree': 30, 'scale': [0.75, 1.5]}},
                     {'KeyPointFlip': {'flip_prob': 0.5}}, {'GenerateTarget': {}},
                     {'NormalizePermute': {'is_scale': True}}], 'TrainReader.sample_transforms',
                    cfg)
    np.random.seed(1)
    out = Compose(ops)(record_of(200, 150, random_people(3, 200, 150)))
    assert out['image'].shape == (3, 128, 128) and out['tagmap'].shape == (8, K, 2)
    assert out['heatmap_gt1x'].shape == (K, 32, 32) and out['mask_1x'].shape == (32, 32)


# ----------------------------------------------------------------------------- EvalAffine

@pytest.mark.parametrize('width, height, size, stride, expected', [
    (640, 425, 512, 64, (832, 512)),   # 640 * 512 / 425 = 771.0 -> 13 * 64
    (425, 640, 512, 64, (512, 832)),
    (640, 425, 512, 32, (800, 512)),
    (300, 300, 256, 64, (256, 256)),
])
def test_eval_affine_input_size(width, height, size, stride, expected):
    out = EvalAffine(size, stride)({'image': np.zeros((height, width, 3), np.uint8)})
    assert out['image'].shape == (expected[1], expected[0], 3)
    assert out['affine'].shape == (2, 3) and out['affine'].dtype == np.float64


def test_eval_affine_matrix_maps_input_pixels_back_exactly():
    record = {'image': np.zeros((425, 640, 3), np.uint8), 'im_shape': np.array([425., 640.])}
    op = EvalAffine(512)
    out = op(record)
    zoom = 512 / 425
    pad = (832 - 640 * zoom) / 2
    input_points = np.array([[pad, 0.0], [832 - pad, 512.0], [416.0, 256.0], [pad + zoom, 1.0]])
    image_points = np.array([[0.0, 0.0], [640.0, 425.0], [320.0, 212.5], [1.0, 1.0 / zoom]])
    np.testing.assert_allclose(affine_transform_points(input_points, out['affine']),
                               image_points, rtol=0, atol=1e-10)
    forward, _ = op.matrices(640, 425)
    np.testing.assert_allclose(affine_transform_points(image_points, forward), input_points,
                               rtol=0, atol=1e-10)
    np.testing.assert_array_equal(out['im_shape'], [425.0, 640.0])


@pytest.mark.parametrize('dot', [(123.4, 77.8), (20.2, 180.6)])
def test_a_dot_found_in_the_eval_input_maps_back_to_the_image(dot):
    image = blob_image(300, 200, dot, sigma=4.0)
    out = EvalAffine(128, 32)({'image': image})
    assert out['image'].shape == (128, 192, 3)
    found = affine_transform_points(centroid(out['image']), out['affine'])
    np.testing.assert_allclose(found, dot, atol=0.1)


def test_eval_affine_is_a_deploy_preprocess_op():
    assert PREPROCESS_OPS['EvalAffine'] is EvalAffine
    pipeline = build_preprocess([{'type': 'Decode'}, {'type': 'EvalAffine', 'size': 512},
                                 {'type': 'NormalizeImage', 'mean': [0.485, 0.456, 0.406],
                                  'std': [0.229, 0.224, 0.225], 'is_scale': True},
                                 {'type': 'Permute'}])
    out = pipeline({'image': np.zeros((425, 640, 3), np.uint8)})
    assert out['image'].shape == (3, 512, 832) and out['affine'].shape == (2, 3)
    with pytest.raises(ValueError, match='positive multiple of stride'):
        EvalAffine(500, 64)
    with pytest.raises(ValueError, match=r'Preprocess\[0\] \(EvalAffine\) has bad arguments'):
        build_preprocess([{'type': 'EvalAffine', 'size': 512, 'trainsize': 512}])
