import contextlib
import io
import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ppkpt.codecs import AssociativeEmbeddingCodec, build_codec
from ppkpt.data.coco import load_coco
from ppkpt.geometry import affine_transform_points, crop_matrix
from ppkpt.metadata import COCO17_FLIP_PAIRS, COCO17_SIGMAS

COCO_JSON = os.path.join(os.path.dirname(__file__), '..', 'data', 'coco', 'test_coco.json')
K = 17


def ideal_outputs(codec, keypoints, visible):
    """Decoder inputs a perfect network would give: the stride-2 targets as heatmaps and, at
    every pixel of joint k, the tag (person index + 1) * 2 of the person whose Gaussian for k is
    highest there (0 where no Gaussian reaches)."""
    heatmaps = codec.encode(keypoints, visible)['heatmap_gt2x']
    tags = np.zeros(heatmaps.shape, dtype=np.float32)
    if len(keypoints):
        own = np.stack([codec.encode(keypoints[i:i + 1], visible[i:i + 1])['heatmap_gt2x']
                        for i in range(len(keypoints))])
        tags = np.where(own.max(axis=0) > 0, (own.argmax(axis=0) + 1) * 2.0, 0.0)
    return {'heatmaps': heatmaps[None], 'tags': tags[None, ..., None].astype(np.float32)}


def eval_affine(width, height, short_side=512, multiple=64):
    """PaddleDetection's bottom-up EvalAffine: the short side becomes ``short_side``, the long
    one the next multiple of 64 of its resized length; returns (input size, center, scale_px)."""
    if width < height:
        size = (short_side, math.ceil(short_side / width * height / multiple) * multiple)
        scale_px = (width, size[1] / size[0] * width)
    else:
        size = (math.ceil(short_side / height * width / multiple) * multiple, short_side)
        scale_px = (size[0] / size[1] * height, height)
    return size, np.round([width / 2.0, height / 2.0]), np.array(scale_px)


def people_of(anns):
    """(N, K, 3) keypoints of the annotations with labelled keypoints."""
    kept = [a['keypoints'] for a in anns if a['num_keypoints'] > 0 and not a['iscrowd']]
    return np.array(kept, np.float64).reshape(-1, K, 3)


def coco_keypoint_ap(results):
    """pycocotools keypoint stats (AP first) of ``results`` against the fixture."""
    with open(COCO_JSON, encoding='utf-8') as f:
        data = json.load(f)
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), 'keypoints')
        evaluator.params.kpt_oks_sigmas = np.array(COCO17_SIGMAS)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def test_grouping_round_trip_on_coco_reaches_ap_095():
    coco = load_coco(COCO_JSON, num_joints=K)
    results, people_seen = [], 0
    for im_id, image in coco.images.items():
        people = people_of(coco.annotations[im_id])
        people_seen += len(people)
        size, center, scale_px = eval_affine(image['width'], image['height'])
        codec = AssociativeEmbeddingCodec(input_size=list(size))
        to_input = crop_matrix(center, scale_px, 0.0, size)
        joints = affine_transform_points(people[..., :2], to_input)
        outputs = ideal_outputs(codec, joints, people[..., 2])
        keypoints, scores = codec.decode_to_image(outputs, center=center, scale_px=scale_px)
        assert len(keypoints) == len(people)
        for kpts, score in zip(keypoints, scores):
            results.append({'image_id': im_id, 'category_id': 1, 'score': float(score),
                            'keypoints': kpts.reshape(-1).tolist()})
    assert people_seen == 12
    stats = coco_keypoint_ap(results)
    assert stats[0] >= 0.95, f'round-trip OKS AP {stats[0]:.3f}'


# ----------------------------------------------------------------------------- encode

def window_paste_reference(cells, on_map, sigma, width, height):
    """PaddleDetection's ToHeatmaps by hand: paste a (6 sigma + 3)^2 Gaussian patch centred on
    every on-map joint's cell, keeping the maximum."""
    radius = int(3 * sigma + 1)
    grid = np.arange(2 * radius + 1) - radius
    patch = np.exp(-(grid[None, :] ** 2 + grid[:, None] ** 2) / (2.0 * sigma ** 2))
    out = np.zeros((cells.shape[1], height, width))
    for person in range(len(cells)):
        for joint in range(cells.shape[1]):
            if not on_map[person, joint]:
                continue
            x, y = cells[person, joint]
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    if 0 <= x + dx < width and 0 <= y + dy < height:
                        value = patch[dy + radius, dx + radius]
                        out[joint, y + dy, x + dx] = max(out[joint, y + dy, x + dx], value)
    return out


def random_people(n, seed=0, low=0.0, high=128.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (n, 3, 2)), (rng.uniform(size=(n, 3)) > 0.2).astype(float)


def test_encode_shapes_dtypes_and_keys():
    codec = AssociativeEmbeddingCodec(input_size=[128, 96], max_num_people=4)
    keypoints, visible = random_people(3)
    targets = codec.encode(keypoints, visible)
    assert set(targets) == {'heatmap_gt1x', 'heatmap_gt2x', 'tagmap'}
    assert targets['heatmap_gt1x'].shape == (3, 24, 32)
    assert targets['heatmap_gt2x'].shape == (3, 48, 64)
    assert targets['heatmap_gt1x'].dtype == targets['heatmap_gt2x'].dtype == np.float32
    assert targets['tagmap'].shape == (4, 3, 2) and targets['tagmap'].dtype == np.int64


@pytest.mark.parametrize('stride_index, stride', [(0, 4), (1, 2)])
def test_heatmaps_match_the_window_paste_reference(stride_index, stride):
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    keypoints, visible = random_people(5, seed=1, low=-10.0, high=138.0)  # some off the map
    key = ['heatmap_gt1x', 'heatmap_gt2x'][stride_index]
    size = 128 // stride
    cells = np.floor(keypoints / stride).astype(int)
    on_map = (visible > 0) & np.all((cells >= 0) & (cells < size), axis=-1)
    expected = window_paste_reference(cells, on_map, 2.0, size, size)
    np.testing.assert_allclose(codec.encode(keypoints, visible)[key], expected, atol=1e-6)


def test_overlapping_people_take_the_maximum_not_the_sum():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64])
    keypoints = np.array([[[20.0, 20.0]], [[24.0, 20.0]]])  # 2 px apart at stride 2
    heatmap = codec.encode(keypoints, np.ones((2, 1)))['heatmap_gt2x'][0]
    assert heatmap.max() == pytest.approx(1.0)
    assert heatmap[10, 10] == pytest.approx(1.0) and heatmap[10, 12] == pytest.approx(1.0)
    assert heatmap[10, 11] == pytest.approx(np.exp(-1 / 8))


def test_tagmap_holds_flat_quarter_indices_and_valid_flags():
    codec = AssociativeEmbeddingCodec(input_size=[64, 32], max_num_people=3)
    keypoints = np.array([[[9.0, 5.0], [63.9, 31.9], [64.0, 8.0]],     # last one off the map
                          [[0.0, 0.0], [30.0, 17.0], [12.0, 12.0]]])
    visible = np.array([[2, 1, 2], [1, 1, 0]])
    tagmap = codec.encode(keypoints, visible)['tagmap']
    width = 16                                                          # 64 / 4
    np.testing.assert_array_equal(tagmap[0], [[1 * width + 2, 1], [7 * width + 15, 1], [0, 0]])
    np.testing.assert_array_equal(tagmap[1], [[0, 1], [4 * width + 7, 1], [0, 0]])
    np.testing.assert_array_equal(tagmap[2], 0)                         # no third person


def test_people_beyond_max_num_people_get_heatmaps_but_no_tags():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64], max_num_people=2)
    keypoints = np.array([[[8.0, 8.0]], [[24.0, 8.0]], [[40.0, 40.0]]])
    targets = codec.encode(keypoints, np.ones((3, 1)))
    assert targets['tagmap'].shape == (2, 1, 2) and np.all(targets['tagmap'][:, 0, 1] == 1)
    assert targets['heatmap_gt1x'][0, 10, 10] == pytest.approx(1.0)    # the third person


def test_encode_of_no_people_is_empty():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64])
    targets = codec.encode(np.zeros((0, 17, 3)), np.zeros((0, 17)))
    assert targets['heatmap_gt2x'].shape == (17, 32, 32) and not targets['heatmap_gt2x'].any()
    assert targets['tagmap'].shape == (30, 17, 2) and not targets['tagmap'].any()


# ----------------------------------------------------------------------------- decode

def coco_like_people(n, seed, size=256, margin=24):
    """n people with 17 visible joints each, spread apart on a size x size input."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(margin + 20, size - margin - 20, (n, 1, 2))
    return centers + rng.uniform(-margin, margin, (n, K, 2)), np.ones((n, K))


def matched_person(found, people, tolerance):
    """Index of the ground-truth person every found joint of ``found`` lies near, else None."""
    joints = np.flatnonzero(found[1] > 0)
    error = np.abs(people[:, joints] - found[0][None, joints]).max(axis=(1, 2))
    return int(np.argmin(error)) if error.min() <= tolerance else None


def test_decode_of_an_empty_image_finds_nobody():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64])
    people = codec.decode_people(ideal_outputs(codec, np.zeros((0, K, 2)), np.zeros((0, K))))
    assert people.keypoints.shape == (0, K, 2) and people.keypoint_scores.shape == (0, K)
    assert people.scores.shape == (0,)
    keypoints, scores = codec.decode_to_image(
        ideal_outputs(codec, np.zeros((0, K, 2)), np.zeros((0, K))), center=[32, 32],
        scale_px=[64, 64])
    assert keypoints.shape == (0, K, 3) and scores.shape == (0,)


def test_decode_recovers_every_person_within_one_pixel():
    codec = AssociativeEmbeddingCodec(input_size=[256, 256])
    joints, visible = coco_like_people(4, seed=3)
    people = codec.decode_people(ideal_outputs(codec, joints, visible))
    assert len(people.scores) == 4
    np.testing.assert_allclose(people.scores, 1.0)
    matched = {matched_person((kpts, score), joints, 1.0)
               for kpts, score in zip(people.keypoints, people.keypoint_scores)}
    assert matched == {0, 1, 2, 3}


def test_people_with_one_visible_joint_are_kept_alone():
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    joints = np.zeros((3, K, 2))
    visible = np.zeros((3, K))
    for person, (joint, x, y) in enumerate([(0, 20.3, 30.7), (5, 90.0, 40.0), (5, 40.0, 100.0)]):
        joints[person, joint] = (x, y)
        visible[person, joint] = 2
    people = codec.decode_people(ideal_outputs(codec, joints, visible))
    assert len(people.scores) == 3
    np.testing.assert_allclose(people.scores, 1.0 / K)
    assert np.all((people.keypoint_scores > 0).sum(axis=1) == 1)       # nothing salvaged
    found = {tuple(np.round(kpts[scores > 0][0]).astype(int))
             for kpts, scores in zip(people.keypoints, people.keypoint_scores)}
    assert found == {(21, 31), (91, 41), (41, 101)}                    # cell centres
    assert np.all(people.keypoints[people.keypoint_scores == 0] == 0)


def test_more_people_than_max_num_people_keeps_the_best_ones_complete():
    codec = AssociativeEmbeddingCodec(input_size=[256, 256], max_num_people=3)
    joints, visible = coco_like_people(6, seed=4, margin=14)
    people = codec.decode_people(ideal_outputs(codec, joints, visible))
    assert len(people.scores) == 3
    assert np.all(np.diff(people.scores) <= 0)
    assert np.all(people.keypoint_scores > 0)                           # completed by salvage
    for kpts, scores in zip(people.keypoints, people.keypoint_scores):
        assert matched_person((kpts, scores), joints, 1.0) is not None


def test_salvage_fills_an_undetected_joint_from_the_heatmap():
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    joints, visible = coco_like_people(1, seed=5, size=128, margin=10)
    outputs = ideal_outputs(codec, joints, visible)
    outputs['heatmaps'][0, 3] *= 0.08                                   # below the threshold
    salvaged = codec.decode_people(outputs)
    plain = AssociativeEmbeddingCodec(input_size=[128, 128], recover_missing=False)
    unsalvaged = plain.decode_people(outputs)
    assert unsalvaged.keypoint_scores[0, 3] == 0
    assert salvaged.keypoint_scores[0, 3] == pytest.approx(0.08)
    np.testing.assert_allclose(salvaged.keypoints[0, 3], joints[0, 3], atol=1.0)
    assert salvaged.scores[0] == pytest.approx(16 / 17)                 # scored before salvage


def single_peak_outputs(values_around, size=16, center=(8, 8)):
    """One joint, one peak of 1 at ``center`` (x, y) with the 4 neighbours given (l, r, u, d)."""
    heatmaps = np.zeros((1, 1, size, size), np.float32)
    x, y = center
    heatmaps[0, 0, y, x] = 1.0
    left, right, up, down = values_around
    heatmaps[0, 0, y, x - 1], heatmaps[0, 0, y, x + 1] = left, right
    heatmaps[0, 0, y - 1, x], heatmaps[0, 0, y + 1, x] = up, down
    return {'heatmaps': heatmaps, 'tags': np.zeros((1, 1, size, size, 1), np.float32)}


@pytest.mark.parametrize('around, expected', [
    ((0.5, 0.5, 0.5, 0.5), (17.0, 17.0)),           # tie: the cell centre (8 + 0.5) * 2
    ((0.2, 0.6, 0.7, 0.1), (17.5, 16.5)),           # a quarter cell toward the higher side
])
def test_refinement_moves_a_quarter_cell_toward_the_higher_neighbour(around, expected):
    codec = AssociativeEmbeddingCodec(input_size=[32, 32])
    keypoints, scores = codec.decode(single_peak_outputs(around))
    np.testing.assert_allclose(keypoints[0, 0], expected)
    unrefined = AssociativeEmbeddingCodec(input_size=[32, 32], use_refine=False)
    np.testing.assert_allclose(unrefined.decode(single_peak_outputs(around))[0][0, 0],
                               (17.0, 17.0))


def manual_outputs(peaks, size=32):
    """Outputs with one-pixel peaks: ``peaks`` = [(joint, x, y, heat, tag), ...]."""
    num_joints = max(p[0] for p in peaks) + 1
    heatmaps = np.zeros((1, num_joints, size, size), np.float32)
    tags = np.zeros((1, num_joints, size, size, 1), np.float32)
    for joint, x, y, heat, tag in peaks:
        heatmaps[0, joint, y, x] = heat
        tags[0, joint, y, x, 0] = tag
    return {'heatmaps': heatmaps, 'tags': tags}


def grouped(codec, outputs):
    """{person: {joint: (x, y)}} of a decode, in map cells."""
    people = codec.decode_people(outputs)
    return sorted(sorted((j, tuple(((p[j] / 2) - 0.5).astype(int).tolist()))
                         for j in np.flatnonzero(s > 0))
                  for p, s in zip(people.keypoints, people.keypoint_scores))


def test_grouping_follows_tags_and_starts_people_beyond_the_threshold():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64], recover_missing=False)
    outputs = manual_outputs([
        (0, 5, 5, 0.9, 0.0), (0, 20, 5, 0.8, 5.0),      # two people start at joint 0
        (1, 6, 9, 0.7, 4.8),                            # joins the tag-5 person
        (1, 25, 25, 0.6, 0.3),                          # joins the tag-0 person
        (2, 12, 12, 0.5, 2.5),                          # 2.5 from both: a new person
        (2, 14, 20, 0.05, 0.0),                         # below detection_threshold
    ])
    assert grouped(codec, outputs) == [[(0, (5, 5)), (1, (25, 25))],
                                       [(0, (20, 5)), (1, (6, 9))],
                                       [(2, (12, 12))]]


def test_more_candidates_than_people_start_new_people():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64], recover_missing=False)
    outputs = manual_outputs([(0, 5, 5, 0.9, 0.0),
                              (1, 5, 9, 0.9, 8.0), (1, 20, 9, 0.8, 0.2), (1, 9, 25, 0.7, 4.0)])
    assert grouped(codec, outputs) == [[(0, (5, 5)), (1, (20, 9))],
                                       [(1, (5, 9))], [(1, (9, 25))]]


def test_nms_keeps_one_peak_per_kernel_square():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64], recover_missing=False)
    near = manual_outputs([(0, 10, 10, 0.9, 0.0), (0, 11, 11, 0.8, 6.0)])
    far = manual_outputs([(0, 10, 10, 0.9, 0.0), (0, 12, 10, 0.8, 6.0)])
    assert len(codec.decode_people(near).scores) == 1
    assert len(codec.decode_people(far).scores) == 2


# ----------------------------------------------------------------- flip, scales, image

def test_merge_flip_of_mirrored_targets_gives_back_the_plain_targets():
    codec = AssociativeEmbeddingCodec(input_size=[128, 96])
    joints, visible = coco_like_people(2, seed=6, size=96, margin=12)
    plain = ideal_outputs(codec, joints, visible)
    perm = np.arange(K)
    for left, right in COCO17_FLIP_PAIRS:
        perm[left], perm[right] = right, left
    mirrored_joints = joints[:, perm].copy()
    mirrored_joints[..., 0] = 128 - mirrored_joints[..., 0]
    mirrored = ideal_outputs(codec, mirrored_joints, visible)
    merged = codec.merge_flip(plain, mirrored, COCO17_FLIP_PAIRS)
    np.testing.assert_allclose(merged['heatmaps'], plain['heatmaps'], atol=1e-6)
    assert merged['tags'].shape == plain['tags'].shape[:4] + (2,)
    np.testing.assert_array_equal(merged['tags'][..., 1], plain['tags'][..., 0])
    np.testing.assert_allclose(codec.decode(merged)[0], codec.decode(plain)[0])
    assert codec.flip_shift == 0.0


def test_merge_scales_averages_heatmaps_and_concatenates_tags():
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    joints, visible = coco_like_people(2, seed=7, size=128, margin=10)
    base = ideal_outputs(codec, joints, visible)
    double = {'heatmaps': np.repeat(np.repeat(base['heatmaps'], 2, axis=2), 2, axis=3),
              'tags': np.repeat(np.repeat(base['tags'], 2, axis=2), 2, axis=3)}
    merged = codec.merge_scales([base, double])
    assert merged['heatmaps'].shape == base['heatmaps'].shape
    assert merged['tags'].shape == base['tags'].shape[:4] + (2,)
    shrunk = cv2.resize(double['heatmaps'][0, 0], (64, 64), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(merged['heatmaps'][0, 0],
                               (base['heatmaps'][0, 0] + shrunk) / 2, atol=1e-6)
    np.testing.assert_allclose(codec.decode(merged)[0], codec.decode(base)[0], atol=1.0)
    resized = codec.merge_scales([base], size=(128, 128))
    assert resized['heatmaps'].shape == (1, K, 128, 128)


def test_decode_to_image_takes_a_matrix_or_center_and_scale():
    codec = AssociativeEmbeddingCodec(input_size=[128, 64])
    center, scale_px = np.array([200.0, 150.0]), np.array([400.0, 200.0])
    image_joints = np.array([[[150.0, 120.0]] * K, [[260.0, 180.0]] * K])
    to_input = crop_matrix(center, scale_px, 0.0, (128, 64))
    outputs = ideal_outputs(codec, affine_transform_points(image_joints, to_input),
                            np.ones((2, K)))
    by_box, scores = codec.decode_to_image(outputs, center=center, scale_px=scale_px)
    by_matrix, _ = codec.decode_to_image(
        outputs, input_to_image=crop_matrix(center, scale_px, 0.0, (128, 64), inv=True))
    np.testing.assert_allclose(by_box, by_matrix, atol=1e-4)
    assert by_box.shape == (2, K, 3) and scores.shape == (2,)
    np.testing.assert_allclose(np.sort(by_box[:, 0, 0]), [150.0, 260.0], atol=3.2)  # 1 px in
    with pytest.raises(ValueError, match='either input_to_image or both center and scale_px'):
        codec.decode_to_image(outputs, center=center)
    with pytest.raises(ValueError, match='either input_to_image'):
        codec.decode_to_image(outputs, input_to_image=np.eye(2, 3), center=center,
                              scale_px=scale_px)


# ----------------------------------------------------------------------------- config

def test_to_config_round_trips_and_the_yaml_tag_takes_trainsize():
    from ppkpt.core.workspace import build_object, load_yaml

    codec = AssociativeEmbeddingCodec(input_size=[512, 512], sigma=2, tag_threshold=1.5)
    config = codec.to_config()
    assert config == {'type': 'AssociativeEmbeddingCodec', 'input_size': [512, 512],
                      'heatmap_strides': [4, 2], 'sigma': 2, 'max_num_people': 30,
                      'detection_threshold': 0.1, 'tag_threshold': 1.5, 'nms_kernel': 3,
                      'use_refine': True, 'recover_missing': True}
    assert build_codec(config) == codec
    built = build_object(load_yaml('!AssociativeEmbeddingCodec {tag_threshold: 1.5}'), 'codec',
                         {'trainsize': [512, 512]})
    assert built == codec


@pytest.mark.parametrize('kwargs, match', [
    ({'heatmap_strides': [4]}, 'two positive integers'),
    ({'heatmap_strides': [4, 0]}, 'two positive integers'),
    ({'input_size': [510, 512]}, 'divisible by every heatmap stride'),
    ({'sigma': 0}, 'sigma must be positive'),
    ({'max_num_people': 0}, 'max_num_people must be >= 1'),
    ({'nms_kernel': 4}, 'nms_kernel must be a positive odd number'),
])
def test_codec_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AssociativeEmbeddingCodec(**{'input_size': [512, 512], **kwargs})


def test_decode_rejects_outputs_of_several_images():
    codec = AssociativeEmbeddingCodec(input_size=[64, 64])
    with pytest.raises(ValueError, match='of one image'):
        codec.decode({'heatmaps': np.zeros((2, 17, 32, 32)), 'tags': np.zeros((2, 17, 32, 32))})


def test_the_codec_module_imports_no_paddle():
    code = ('import sys, ppkpt.codecs.associative_embedding; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "paddle"))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120, cwd=os.path.join(os.path.dirname(__file__), '..', '..'))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == '[]'
