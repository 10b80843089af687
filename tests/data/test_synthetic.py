"""Tests of the synthetic plier generator and its command-line wrapper."""
import importlib.util
import json
import os
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from ppkpt.data import synthetic
from ppkpt.data.synthetic import (generate_split, generate_video, image_rng, plier_keypoints,
                                  plier_mask, plier_metadata, render_image)

SIZE = (96, 72)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _flip_index(pairs):
    index = np.arange(5)
    for a, b in pairs:
        index[a], index[b] = b, a
    return index


def _read_bytes(root):
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_metadata_layout():
    meta = plier_metadata()
    assert meta['num_joints'] == 5
    assert meta['keypoint_names'] == ['left_handle', 'right_handle', 'hinge', 'left_jaw',
                                      'right_jaw']
    assert meta['flip_perm'] == [[0, 1], [3, 4]]
    assert meta['upper_body_ids'] == [2, 3, 4]
    assert meta['skeleton'] == [[0, 2], [1, 2], [2, 3], [2, 4]]
    assert len(meta['sigmas']) == 5
    assert all(0.04 <= s <= 0.08 for s in meta['sigmas'])
    assert synthetic.coco_category()['skeleton'] == [[1, 3], [2, 3], [3, 4], [3, 5]]


def test_upright_plier_has_left_parts_on_the_left():
    kpts = plier_keypoints((50.0, 50.0), 100.0, 0.0, 0.5)
    np.testing.assert_allclose(kpts[2], [50.0, 50.0])
    assert kpts[3, 1] < 50.0 and kpts[4, 1] < 50.0, 'jaws point up at angle 0'
    assert kpts[0, 1] > 50.0 and kpts[1, 1] > 50.0, 'handles point down at angle 0'
    assert kpts[0, 0] < kpts[1, 0] and kpts[3, 0] < kpts[4, 0]
    turned = plier_keypoints((50.0, 50.0), 100.0, 90.0, 0.5)
    assert turned[3, 0] < 50.0 and turned[4, 0] < 50.0, 'angle 90 turns the jaws to the left'


@pytest.mark.parametrize('angle', [-150.0, -20.0, 35.0, 170.0])
def test_mirror_matches_flip_perm(angle):
    kpts = plier_keypoints((0.0, 0.0), 80.0, angle, 0.7)
    mirrored = kpts * np.array([-1.0, 1.0])
    expected = plier_keypoints((0.0, 0.0), 80.0, -angle, 0.7)
    flip = _flip_index(plier_metadata()['flip_perm'])
    np.testing.assert_allclose(mirrored[flip], expected, atol=1e-9)


def test_opening_spreads_jaws_and_handles():
    closed = plier_keypoints((0.0, 0.0), 100.0, 0.0, 0.0)
    wide = plier_keypoints((0.0, 0.0), 100.0, 0.0, 1.0)
    assert np.linalg.norm(wide[3] - wide[4]) > 3 * np.linalg.norm(closed[3] - closed[4])
    assert np.linalg.norm(wide[0] - wide[1]) > 2 * np.linalg.norm(closed[0] - closed[1])


def test_split_is_deterministic(tmp_path):
    for name in ('a', 'b'):
        generate_split(str(tmp_path / name), 'train', 5, SIZE, seed=3)
    generate_split(str(tmp_path / 'c'), 'train', 5, SIZE, seed=4)
    first = _read_bytes(tmp_path / 'a')
    assert len(first) == 6
    assert first == _read_bytes(tmp_path / 'b')
    other = _read_bytes(tmp_path / 'c')
    assert first['annotations/train.json'] != other['annotations/train.json']
    assert first['images/train/000000.jpg'] != other['images/train/000000.jpg']


def test_image_does_not_depend_on_split_size(tmp_path):
    generate_split(str(tmp_path / 'short'), 'val', 2, SIZE, seed=1)
    generate_split(str(tmp_path / 'long'), 'val', 4, SIZE, seed=1)
    short = _read_bytes(tmp_path / 'short')
    long = _read_bytes(tmp_path / 'long')
    assert short['images/val/000001.jpg'] == long['images/val/000001.jpg']


def test_keypoints_lie_on_drawn_pixels():
    for index in range(8):
        scene = render_image(image_rng(11, 'check', index), SIZE)
        for plier in scene.pliers:
            vis = synthetic.keypoint_visibility(plier.keypoints, SIZE)
            for (x, y), v in zip(plier.keypoints, vis):
                if v == 0:
                    continue
                col, row = min(int(round(x)), SIZE[0] - 1), min(int(round(y)), SIZE[1] - 1)
                assert not np.array_equal(scene.image[row, col], scene.background[row, col])
            col, row = (int(round(c)) for c in plier.keypoints[2])
            assert tuple(int(c) for c in scene.image[row, col]) == plier.style.hinge


def test_visibility_marks_keypoints_outside_the_image():
    kpts = np.array([[-0.5, 10.0], [95.9, 10.0], [96.0, 10.0], [10.0, 71.99], [10.0, 72.0]])
    assert synthetic.keypoint_visibility(kpts, SIZE).tolist() == [0, 2, 0, 2, 0]


def test_some_keypoints_fall_outside_the_image():
    hidden = 0
    for index in range(60):
        for plier in render_image(image_rng(0, 'edges', index), SIZE).pliers:
            vis = synthetic.keypoint_visibility(plier.keypoints, SIZE)
            hidden += int(np.count_nonzero(vis == 0))
    assert hidden > 0


def test_annotations_are_consistent_coco(tmp_path):
    path = generate_split(str(tmp_path), 'train', 20, SIZE, seed=0)
    coco = COCO(path)
    assert sorted(coco.getImgIds()) == list(range(1, 21))
    assert coco.loadCats(1)[0]['name'] == 'plier'
    per_image = Counter()
    for ann in coco.loadAnns(coco.getAnnIds()):
        kpts = np.array(ann['keypoints'], dtype=np.float64).reshape(5, 3)
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= SIZE[0] and y + h <= SIZE[1]
        assert ann['area'] == pytest.approx(w * h, abs=0.01)
        assert ann['num_keypoints'] == int(np.count_nonzero(kpts[:, 2]))
        assert set(kpts[:, 2].tolist()) <= {0.0, 2.0}
        visible = kpts[kpts[:, 2] > 0]
        assert kpts[2, 2] == 2 and len(visible) >= 3
        assert np.all(visible[:, 0] >= x) and np.all(visible[:, 0] <= x + w)
        assert np.all(visible[:, 1] >= y) and np.all(visible[:, 1] <= y + h)
        hidden = kpts[kpts[:, 2] == 0]
        outside = ((hidden[:, 0] < 0) | (hidden[:, 0] >= SIZE[0])
                   | (hidden[:, 1] < 0) | (hidden[:, 1] >= SIZE[1]))
        assert np.all(outside)
        per_image[ann['image_id']] += 1
        for image_file in coco.loadImgs(ann['image_id']):
            assert os.path.isfile(tmp_path / 'images' / 'train' / image_file['file_name'])
    assert max(per_image.values()) >= 2, 'some images hold several pliers'
    assert min(per_image.values()) >= 1


def test_bbox_is_tight_around_the_drawing():
    scene = render_image(image_rng(2, 'bbox', 0), SIZE)
    plier = scene.pliers[0]
    ann = synthetic.plier_annotation(plier, SIZE, 1, 1)
    x, y, w, h = ann['bbox']
    ys, xs = np.nonzero(plier_mask(plier, SIZE))
    pad = synthetic.BBOX_PAD
    assert x == max(0.0, xs.min() - pad) and y == max(0.0, ys.min() - pad)
    assert x + w == min(SIZE[0], xs.max() + 1 + pad)
    assert y + h == min(SIZE[1], ys.max() + 1 + pad)


def test_pliers_in_one_image_barely_overlap():
    for index in range(12):
        scene = render_image(image_rng(0, 'overlap', index), SIZE)
        masks = [plier_mask(p, SIZE) for p in scene.pliers]
        for i in range(len(masks)):
            for j in range(i + 1, len(masks)):
                inter = np.logical_and(masks[i], masks[j]).sum()
                assert inter <= synthetic.MAX_OVERLAP * min(masks[i].sum(), masks[j].sum())


def test_video_reads_back_with_ground_truth(tmp_path):
    path = generate_video(str(tmp_path), num_frames=12, fps=15, size=(128, 96), seed=5)
    capture = cv2.VideoCapture(path)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (96, 128, 3)
        frames += 1
    capture.release()
    assert frames == 12
    with open(tmp_path / 'video' / 'demo_gt.json', encoding='utf-8') as f:
        gt = json.load(f)
    assert [im['frame'] for im in gt['images']] == list(range(12))
    assert gt['video'] == {'file_name': 'demo.mp4', 'fps': 15, 'num_frames': 12}
    frame_of = {im['id']: im['frame'] for im in gt['images']}
    tracks = defaultdict(dict)
    for ann in gt['annotations']:
        tracks[ann['track_id']][frame_of[ann['image_id']]] = np.reshape(ann['keypoints'], (5, 3))
    assert 1 <= len(tracks) <= 3
    for track_id, by_frame in tracks.items():
        assert sorted(by_frame) == list(range(12)), f'track {track_id} misses frames'
        hinges = np.stack([by_frame[t][2, :2] for t in range(12)])
        steps = np.linalg.norm(np.diff(hinges, axis=0), axis=1)
        assert steps.max() < 8.0, 'objects move smoothly'
        assert np.ptp(hinges, axis=0).max() > 0.5, 'objects move'


def test_video_holds_the_asked_number_of_objects(tmp_path):
    generate_video(str(tmp_path), num_frames=4, fps=15, size=(320, 180), seed=5, num_objects=2)
    with open(tmp_path / 'video' / 'demo_gt.json', encoding='utf-8') as f:
        gt = json.load(f)
    assert len(gt['annotations']) == 8 and {a['track_id'] for a in gt['annotations']} == {1, 2}
    with pytest.raises(ValueError, match='num_objects'):
        generate_video(str(tmp_path), num_frames=4, num_objects=0)


def test_video_frame_matches_annotation(tmp_path):
    path = generate_video(str(tmp_path), num_frames=3, fps=15, size=(128, 96), seed=5)
    capture = cv2.VideoCapture(path)
    ok, frame = capture.read()
    capture.release()
    assert ok
    with open(tmp_path / 'video' / 'demo_gt.json', encoding='utf-8') as f:
        gt = json.load(f)
    first = [a for a in gt['annotations'] if a['image_id'] == gt['images'][0]['id']]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for ann in first:
        x, y, w, h = (int(round(v)) for v in ann['bbox'])
        inside = gray[y:y + h, x:x + w]
        assert inside.std() > 5.0, 'the annotated box holds the drawn plier'


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="split 'val'"):
        generate_split(str(tmp_path), 'val', 0, SIZE)
    with pytest.raises(ValueError, match='image_size'):
        generate_split(str(tmp_path), 'val', 1, (16, 16))
    with pytest.raises(ValueError, match='num_frames'):
        generate_video(str(tmp_path), num_frames=0)


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'make_demo_data', os.path.join(REPO, 'tools', 'make_demo_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool_args(out, num_frames):
    return ['--out', out, '--num_train', '3', '--num_val', '2', '--num_frames', str(num_frames),
            '--image_size', '64', '48']


def test_tool_is_idempotent(tmp_path):
    tool = _load_tool()
    out = str(tmp_path / 'demo')
    files = tool.main(_tool_args(out, 4))
    assert files['train'] == os.path.join('annotations', 'train.json')
    train_json = os.path.join(out, files['train'])
    with open(train_json, encoding='utf-8') as f:
        assert len(json.load(f)['images']) == 3
    os.utime(train_json, ns=(1, 1))
    tool.main(_tool_args(out, 4))
    assert os.stat(train_json).st_mtime_ns == 1, 'same settings: nothing is rewritten'
    tool.main(_tool_args(out, 5))
    assert os.stat(train_json).st_mtime_ns != 1, 'new settings regenerate'
    with open(os.path.join(out, 'video', 'demo_gt.json'), encoding='utf-8') as f:
        assert json.load(f)['video']['num_frames'] == 5
    os.remove(os.path.join(out, 'images', 'val', '000001.jpg'))
    os.utime(train_json, ns=(1, 1))
    tool.main(_tool_args(out, 5))
    assert os.stat(train_json).st_mtime_ns != 1, 'a missing image regenerates'
    assert os.path.isfile(os.path.join(out, 'images', 'val', '000001.jpg'))
