"""Fast mode: the detector every Nth frame with people carried between, one keypoint call per
frame; the library defaults are off and ``--fast`` turns both speed-ups on."""
from typing import Callable, List, Optional, Tuple

import numpy as np
import pytest

from deploy.python import det_keypoint_unite_infer as unite
from deploy.python.pipeline import FAST_DET_INTERVAL, TopDownPipeline, VideoOptions, keypoint_box
from deploy.python.keypoint_infer import KeypointDetector
from ppkpt.metadata import KeypointMeta

SHAPE = np.array([[0.0, -30.0], [-10.0, -10.0], [10.0, -10.0], [-8.0, 30.0], [8.0, 30.0]])
"""A 5-joint pose around its centre (pixels)."""
IMAGE = np.zeros((240, 400, 3), np.uint8)
Path = Callable[[int], Optional[Tuple[float, float]]]
"""A person's centre at frame t, or None while it is out of the scene."""


class Scene:
    """People walking along ``paths``; the test sets ``t`` before each frame."""

    def __init__(self, paths: List[Path]) -> None:
        self.paths = paths
        self.t = 0

    def centres(self) -> List[Tuple[float, float]]:
        return [c for c in (path(self.t) for path in self.paths) if c is not None]

    def poses(self) -> List[np.ndarray]:
        return [SHAPE + centre for centre in self.centres()]


class CountingDetector:
    """Returns a box round every person of the scene and records the frames it ran on."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.frames: List[int] = []

    def predict(self, image: np.ndarray) -> np.ndarray:
        self.frames.append(self.scene.t)
        return np.asarray([[0, 0.9, x - 25, y - 45, x + 25, y + 45]
                           for x, y in self.scene.centres()], np.float32).reshape(-1, 6)


class SceneKeypoints:
    """A top-down stand-in: in each box it finds the scene person whose centre the box (enlarged
    1.25x, as the real crop) holds; a joint inside the crop has score 0.9, outside 0.1."""

    meta = KeypointMeta(5, names=list('abcde'), sigmas=[0.06] * 5)

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.batch_size = 1

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        keypoints = np.stack([self._pose(box) for box in boxes]) if len(boxes) else \
            np.zeros((0, 5, 3))
        return keypoints.astype(np.float32), keypoints[:, :, 2].mean(axis=1)

    def _pose(self, box: np.ndarray) -> np.ndarray:
        centre, half = (box[:2] + box[2:]) / 2, 1.25 * (box[2:] - box[:2]) / 2
        for pose in self.scene.poses():
            if np.all(np.abs(pose.mean(axis=0) - centre) <= half):
                inside = np.all(np.abs(pose - centre) <= half, axis=1)
                return np.concatenate([pose, np.where(inside, 0.9, 0.1)[:, None]], axis=1)
        return np.concatenate([np.tile(centre, (5, 1)), np.full((5, 1), 0.1)], axis=1)


def _walker(x0: float, y0: float, vx: float, start: int = 0, stop: int = 10 ** 6) -> Path:
    return lambda t: (x0 + vx * t, y0) if start <= t < stop else None


def _run(scene: Scene, frames: int, options: VideoOptions
         ) -> Tuple[CountingDetector, List[dict]]:
    detector = CountingDetector(scene)
    pipeline = TopDownPipeline(detector, SceneKeypoints(scene), 0.5, track=True,
                               options=options)
    results = []
    for t in range(frames):
        scene.t = t
        results.append(pipeline.process(IMAGE))
    return detector, results


def test_library_defaults_are_off() -> None:
    options = VideoOptions()
    assert (options.det_interval, options.batch_crops, options.pose_nms, options.track_confirm,
            options.track_merge_frames, options.min_joints) == (1, False, 1.0, 1, 0, 0)
    scene = Scene([_walker(100, 100, 3)])
    pipeline = TopDownPipeline(CountingDetector(scene), SceneKeypoints(scene), track=True)
    assert pipeline.options == VideoOptions() and pipeline.carrier is None
    detector, _ = _run(scene, 5, VideoOptions())
    assert detector.frames == [0, 1, 2, 3, 4]


def test_fast_mode_turns_both_speed_ups_on_and_nothing_else() -> None:
    assert VideoOptions.fast() == VideoOptions(det_interval=FAST_DET_INTERVAL, batch_crops=True)
    assert VideoOptions.fast(det_interval=5).det_interval == 5
    for bad in ({'det_interval': 0}, {'track_confirm': 0}, {'track_merge_frames': -1},
                {'min_joints': -1}):
        with pytest.raises(ValueError, match=f'--{next(iter(bad))} must be >='):
            VideoOptions(**bad)


def _cli_options(*flags: str) -> VideoOptions:
    args = unite.build_parser().parse_args(['--det_model_dir', 'd', '--keypoint_model_dir', 'k',
                                            *flags])
    return unite.video_options(args)


def test_the_fast_flag_an_explicit_interval_and_bad_values(
        capsys: pytest.CaptureFixture) -> None:
    stable = unite.CLI_VIDEO_DEFAULTS
    assert _cli_options() == stable
    assert (stable.det_interval, stable.batch_crops) == (1, False)
    assert _cli_options('--fast') == VideoOptions.fast(
        pose_nms=stable.pose_nms, track_merge_frames=stable.track_merge_frames,
        min_joints=stable.min_joints)
    assert _cli_options('--fast', 'False') == stable
    assert _cli_options('--fast', '--det_interval', '5').det_interval == 5
    with pytest.raises(SystemExit) as error:  # one line, exit code 2, before any model loads
        _cli_options('--track_confirm', '0')
    assert error.value.code == 2
    assert '--track_confirm must be >= 1, got 0' in capsys.readouterr().err
    assert _cli_options('--det_interval', '2') == VideoOptions(
        det_interval=2, pose_nms=stable.pose_nms, track_merge_frames=stable.track_merge_frames,
        min_joints=stable.min_joints)


def test_fast_mode_skips_the_flip_test_unless_asked() -> None:
    def flip(*flags: str) -> Optional[bool]:
        return unite.keypoint_flip_test(unite.build_parser().parse_args(
            ['--det_model_dir', 'd', '--keypoint_model_dir', 'k', *flags]))

    assert flip() is None  # infer_cfg.yml decides
    assert flip('--fast') is False
    assert flip('--fast', '--flip_test', 'True') is True
    assert flip('--flip_test', 'False') is False


@pytest.mark.parametrize('interval', [2, 3, 4])
def test_detector_runs_every_nth_frame_and_people_keep_their_ids(interval: int) -> None:
    scene = Scene([_walker(100, 100, 4), _walker(300, 130, -3)])
    detector, results = _run(scene, 12, VideoOptions(det_interval=interval))
    assert detector.frames == list(range(0, 12, interval))
    for t, result in enumerate(results):
        assert sorted(result['track_ids'].tolist()) == [0, 1]
        order = np.argsort(result['track_ids'])
        scene.t = t
        np.testing.assert_allclose(result['keypoints'][order, :, :2], scene.poses(), atol=1e-4)
        assert np.all(result['keypoints'][:, :, 2] == pytest.approx(0.9))  # crops hold them


def test_carried_boxes_follow_the_keypoints() -> None:
    scene = Scene([_walker(100, 100, 5)])
    _, results = _run(scene, 3, VideoOptions(det_interval=3))
    np.testing.assert_allclose(results[0]['boxes'][0, 2:], [75, 55, 125, 145])  # detector's
    # carried: the joints' extent (20 x 60 px) padded by 10% per side, 5 px further each frame
    for t in (1, 2):
        np.testing.assert_allclose(results[t]['boxes'][0, 2:],
                                   [88 + 5 * t, 64, 112 + 5 * t, 136], atol=1e-4)
        assert results[t]['boxes'][0, 1] == pytest.approx(0.9)  # the detector score carries


def test_detector_runs_on_every_frame_while_nobody_is_tracked() -> None:
    scene = Scene([_walker(100, 100, 2, start=2)])
    detector, results = _run(scene, 10, VideoOptions(det_interval=3))
    assert detector.frames == [0, 1, 2, 3, 6, 9]
    assert [len(r['track_ids']) for r in results] == [0, 0] + [1] * 8


def test_a_lost_person_is_dropped_until_the_next_detector_frame() -> None:
    def jumper(t: int) -> Tuple[float, float]:
        return (100.0, 100.0) if t < 2 else (300.0, 100.0)

    leaver = _walker(200, 100, 0, stop=4)  # gone from frame 4: its crop holds nobody
    scene = Scene([jumper, leaver])
    detector, results = _run(scene, 7, VideoOptions(det_interval=3))
    assert detector.frames == [0, 3, 6]
    ids = [sorted(r['track_ids'].tolist()) for r in results]
    # the jumper (0) is lost on frame 2 and found on 3 (a new id: the jump is gated); the
    # leaver (1) is lost on frame 4, when its crop holds nobody
    assert ids == [[0, 1], [0, 1], [1], [1, 2], [2], [2], [2]]


def test_keypoint_box_is_the_padded_extent_of_the_confident_joints() -> None:
    pose = np.concatenate([SHAPE + [100, 100], np.full((5, 1), 0.9)], axis=1)
    np.testing.assert_allclose(keypoint_box(pose, 0.5, 0.1), [88, 64, 112, 136])
    np.testing.assert_allclose(keypoint_box(pose, 0.5, 0.0), [90, 70, 110, 130])
    weak = pose.copy()
    weak[:3, 2] = 0.2  # 2 of 5 joints left: fewer than ceil(K / 2)
    assert keypoint_box(weak, 0.5, 0.1) is None
    point = pose.copy()
    point[:, :2] = 50.0  # every joint on one pixel
    assert keypoint_box(point, 0.5, 0.1) is None


class FixedBoxes:
    """A detector stand-in with ``count`` boxes side by side."""

    def __init__(self, count: int) -> None:
        self.count = count

    def predict(self, image: np.ndarray) -> np.ndarray:
        return np.asarray([[0, 0.9, 10 + 40 * i, 20, 45 + 40 * i, 120]
                           for i in range(self.count)], np.float32)


def _counting_runs(detector: KeypointDetector, monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """The batch size of every predictor call of ``detector``, appended as it runs."""
    sizes: List[int] = []
    run = detector.predictor.run

    def counting(inputs: dict) -> list:
        sizes.append(len(next(iter(inputs.values()))))
        return run(inputs)

    monkeypatch.setattr(detector.predictor, 'run', counting)
    return sizes


@pytest.mark.parametrize('batch_crops, calls', [(False, [2, 2, 1]), (True, [5])])
def test_batch_crops_sends_every_crop_of_a_frame_in_one_call(
        keypoint_model_dir: str, monkeypatch: pytest.MonkeyPatch, batch_crops: bool,
        calls: List[int]) -> None:
    detector = KeypointDetector(keypoint_model_dir, batch_size=2, cpu_threads=1)
    sizes = _counting_runs(detector, monkeypatch)
    image = np.random.default_rng(0).integers(0, 255, (140, 220, 3), dtype=np.uint8)
    pipeline = TopDownPipeline(FixedBoxes(5), detector, 0.0,
                               options=VideoOptions(batch_crops=batch_crops))
    result = pipeline.process(image)
    assert sizes == calls and detector.batch_size == 2
    expected, _ = detector.predict(image, FixedBoxes(5).predict(image)[:, 2:6])
    np.testing.assert_allclose(result['keypoints'], expected, atol=1e-5)
