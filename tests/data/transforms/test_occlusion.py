"""AugmentationbyInformantionDropping: discs in crop units, inside the crop, with prob_cutout."""
import numpy as np
import pytest

from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.core.workspace import ConfigError, LazyObject, build_object
from ppkpt.data.transforms.occlusion import AugmentationbyInformantionDropping, drop_disc
from ppkpt.data.transforms.topdown import TopDownAffine

CROP = [96, 128]                 # [w, h]
RADII = (0.1 * 96, 0.2 * 96)     # disc radius range in crop pixels
GREY = 200


def _codec():
    return HeatmapCodec(list(CROP), [24, 32], target_type='udp')


def _aid(prob_cutout=1.0, offset_factor=0.0, num_patch=1):
    return AugmentationbyInformantionDropping(_codec(), prob_cutout, offset_factor, num_patch)


def _crop_record(joints, visible):
    """A grey crop with joints (K, 2) in crop pixels and their 0/1 visibility."""
    joints = np.asarray(joints, dtype=np.float32)
    vis = np.repeat(np.asarray(visible, dtype=np.float32)[:, None], 3, axis=1)
    return {'image': np.full((CROP[1], CROP[0], 3), GREY, np.uint8),
            'gt_joints': np.concatenate([joints, np.zeros((len(joints), 1), np.float32)], 1),
            'joints_vis': vis}


def _dropped(image):
    """(H, W) bool: pixels blacked out (the inputs are grey everywhere)."""
    return np.all(image == 0, axis=2)


def _disc_radius(mask, center):
    """The radius of the disc ``mask`` around ``center``; asserts the mask is that full disc."""
    ys, xs = np.nonzero(mask)
    radius = np.hypot(xs - center[0], ys - center[1]).max()
    grid_y, grid_x = np.mgrid[:mask.shape[0], :mask.shape[1]]
    np.testing.assert_array_equal(mask, np.hypot(grid_x - center[0], grid_y - center[1]) <= radius)
    return radius


def test_one_disc_of_10_to_20_percent_of_the_crop_width_on_the_joint():
    op = _aid()
    radii = []
    for seed in range(40):
        np.random.seed(seed)
        record = _crop_record([[48, 64]], [1])
        original = record['image']
        out = op(record)
        assert np.all(original == GREY)                  # a new image, the old one untouched
        radii.append(_disc_radius(_dropped(out['image']), (48, 64)))
        np.testing.assert_array_equal(out['gt_joints'][0, :2], [48, 64])
        assert out['joints_vis'][0, 0] == 1
    assert RADII[0] - 1 <= min(radii) < RADII[0] + 2
    assert RADII[1] - 2 < max(radii) <= RADII[1]


@pytest.mark.parametrize('box_width', [80.0, 800.0])
def test_disc_size_is_in_crop_units_whatever_the_person_size(box_width):
    """After TopDownAffine, a 80 px and a 800 px wide person lose discs of the same crop size
    (PaddleDetection's op, before the crop, would differ by a factor of 10)."""
    affine, op = TopDownAffine(_codec()), _aid()
    center = np.array([700.0, 700.0])
    radii = []
    for seed in range(10):
        np.random.seed(seed)
        record = {'image': np.full((1400, 1400, 3), GREY, np.uint8), 'center': center,
                  'scale': np.array([box_width, box_width * 4 / 3]) / 200,
                  'gt_joints': np.array([[700.0, 700.0, 0.0]], np.float32),
                  'joints_vis': np.ones((1, 3), np.float32)}
        record = affine(record)
        joint = record['gt_joints'][0, :2]
        radii.append(_disc_radius(_dropped(op(record)['image']), joint))
    assert RADII[0] - 1 <= min(radii) and max(radii) <= RADII[1]


def test_discs_sit_on_visible_joints_inside_the_crop():
    op = _aid()
    joints = [[20, 20], [-30, 50], [70, 100], [50, 140]]   # hidden, outside, inside, outside
    for seed in range(20):
        np.random.seed(seed)
        ys, xs = np.nonzero(_dropped(op(_crop_record(joints, [0, 1, 1, 1]))['image']))
        np.testing.assert_allclose([xs.mean(), ys.mean()], [70, 100], atol=0.5)
    record = _crop_record(joints[:2] + joints[3:], [0, 1, 1])
    image = record['image']
    assert op(record)['image'] is image                    # no candidate: nothing dropped


def test_offsets_scale_with_the_crop_width():
    op = _aid(offset_factor=0.05)
    offsets = []
    for seed in range(200):
        np.random.seed(seed)
        ys, xs = np.nonzero(_dropped(op(_crop_record([[48, 64]], [1]))['image']))
        offsets.append([xs.mean() - 48, ys.mean() - 64])
    assert np.std(offsets, axis=0) == pytest.approx([0.05 * 96] * 2, rel=0.2)


def test_probability_is_prob_cutout():
    for prob, low, high in [(0.0, 0, 0), (0.3, 0.26, 0.34), (1.0, 1, 1)]:
        op = _aid(prob_cutout=prob)
        np.random.seed(0)
        hits = [_dropped(op(_crop_record([[48, 64]], [1]))['image']).any() for _ in range(1000)]
        assert low <= np.mean(hits) <= high, prob


def test_more_patches_drop_more_with_the_same_first_disc():
    single, triple = _aid(offset_factor=0.3), _aid(offset_factor=0.3, num_patch=3)
    grew = 0
    for seed in range(10):
        np.random.seed(seed)
        one = _dropped(single(_crop_record([[48, 64], [30, 90]], [1, 1]))['image'])
        np.random.seed(seed)
        three = _dropped(triple(_crop_record([[48, 64], [30, 90]], [1, 1]))['image'])
        assert np.all(three[one])
        grew += int(three.sum() > one.sum())
    assert grew >= 5


def test_it_needs_the_crop():
    record = _crop_record([[48, 64]], [1])
    record['image'] = np.full((300, 200, 3), GREY, np.uint8)
    with pytest.raises(ValueError, match='96x128 crop, got an image of 200x300: place it after '
                                         'TopDownAffine'):
        _aid()(record)


@pytest.mark.parametrize('kwargs', [{'prob_cutout': 1.5}, {'offset_factor': -0.1},
                                    {'num_patch': 0}])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AugmentationbyInformantionDropping(_codec(), **kwargs)


def test_built_from_config_with_the_shared_codec():
    cfg = {'trainsize': CROP, 'hmsize': [24, 32],
           'codec': LazyObject('HeatmapCodec', {'target_type': 'udp'})}
    spec = {'AugmentationbyInformantionDropping': {'prob_cutout': 0.5, 'offset_factor': 0.05}}
    op = build_object(spec, 'TrainReader.sample_transforms[2]', cfg)
    assert (op.crop_size, op.prob_cutout, op.offset_factor, op.num_patch) == (CROP, 0.5, 0.05, 1)
    with pytest.raises(ConfigError, match='trainsize'):
        build_object({'AugmentationbyInformantionDropping': {'trainsize': CROP}},
                     'TrainReader.sample_transforms[2]', cfg)


def test_drop_disc_clips_to_the_image():
    image = np.full((10, 10), 7, np.uint8)
    out = drop_disc(image, np.array([-2.0, 5.0]), 3.0)
    assert out[5, 0] == out[3, 0] == out[5, 1] == 0 and out[4, 1] == out[2, 0] == 7
    assert out.sum() == 7 * 94
    assert np.all(image == 7)
