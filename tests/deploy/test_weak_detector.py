"""The video pipeline under a weak detector, on the demo video at ``--det_threshold 0.05``.

The demo's briefly trained detector and its HRNet were run once on every frame of the demo
video and their outputs recorded (``tests/data/weak_detector/record.py``). Here the command
line's own pipeline (its flag defaults, tracker, filters and smoother) replays those outputs
frame by frame, writes its JSON, and ``tools/eval_video.py`` scores it against the video's
ground truth. Acceptance: at most 1.1x as many people as the truth holds, and ``--smooth``
lowers jitter by at least 40 % at no more than 5 % more keypoint error.
"""
import json
import os
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np
import pytest

from deploy.python import det_keypoint_unite_infer as unite
from deploy.python.io_utils import VideoSource
from deploy.python.pipeline_outputs import run_video
from ppkpt.metadata import KeypointMeta
from tests.helpers import run_tool

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data', 'weak_detector')
GT = os.path.join(FIXTURE, 'demo_gt.json')
MAX_PEOPLE_RATIO = 1.1
MIN_JITTER_DROP = 0.40
MAX_ERROR_RISE = 0.05
STABILITY_OFF = ['--pose_nms', '1.0', '--min_joints', '0', '--track_merge_frames', '0',
                 '--track_confirm', '1']


class Recording:
    """The recorded outputs, split per frame: ``frames[t]`` = (boxes (P, 6), keypoints (P, K, 3),
    scores (P,))."""

    def __init__(self) -> None:
        data = np.load(os.path.join(FIXTURE, 'outputs.npz'))
        ends = np.cumsum(data['counts'])
        starts = ends - data['counts']
        self.frames = [(data['boxes'][a:b], data['keypoints'][a:b], data['scores'][a:b])
                       for a, b in zip(starts, ends)]
        self.fps = float(data['fps'])
        self.frame_size = tuple(int(v) for v in data['frame_size'])
        with open(os.path.join(FIXTURE, 'meta.json'), encoding='utf-8') as handle:
            self.meta = KeypointMeta.from_config(json.load(handle))


class ReplayDetector:
    """Gives frame t's recorded boxes on its t-th call."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.calls = 0

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        boxes = self.recording.frames[self.calls][0]
        self.calls += 1
        return boxes


class ReplayKeypoints:
    """Gives the recorded keypoints of the boxes the detector gave last (checked to be them)."""

    def __init__(self, recording: Recording, detector: ReplayDetector) -> None:
        self.recording, self.detector = recording, detector
        self.meta, self.batch_size = recording.meta, 1

    def predict(self, image_rgb: np.ndarray, boxes_xyxy: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
        boxes, keypoints, scores = self.recording.frames[self.detector.calls - 1]
        np.testing.assert_array_equal(boxes_xyxy, boxes[:, 2:6])
        return keypoints, scores


@pytest.fixture(scope='module')
def recording() -> Recording:
    return Recording()


@pytest.fixture(scope='module')
def blank_video(recording: Recording, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A black video with the demo video's size, frame rate and frame count."""
    path = str(tmp_path_factory.mktemp('video') / 'demo.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), recording.fps,
                             recording.frame_size)
    width, height = recording.frame_size
    for _ in recording.frames:
        writer.write(np.zeros((height, width, 3), np.uint8))
    writer.release()
    return path


def replay(recording: Recording, video: str, output_dir: str, flags: List[str],
           monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """Run the command line's pipeline with ``flags`` on the recording and score it with
    ``tools/eval_video.py``."""
    detector = ReplayDetector(recording)
    monkeypatch.setattr(unite, 'Detector', lambda *args, **kwargs: detector)
    monkeypatch.setattr(unite, 'KeypointDetector',
                        lambda *args, **kwargs: ReplayKeypoints(recording, detector))
    args = unite.build_parser().parse_args(
        ['--det_model_dir', 'recorded', '--keypoint_model_dir', 'recorded', '--video_file',
         video, '--det_threshold', '0.05', '--output_dir', output_dir] + flags)
    source = VideoSource(video)
    run_video(unite._build_pipeline(args, source), source, output_dir)
    assert detector.calls == len(recording.frames)
    scored = run_tool(['tools/eval_video.py', '--gt', GT, '--pred',
                       os.path.join(output_dir, 'demo_pose.json')])
    return json.loads(scored.stdout)


@pytest.fixture(scope='module')
def scores(recording: Recording, blank_video: str,
           tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, Any]]:
    """eval_video's metrics of the raw, smoothed and no-stability-filter runs."""
    runs = {'raw': [], 'smooth': ['--smooth'], 'unfiltered': STABILITY_OFF}
    results = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, flags in runs.items():
            out = str(tmp_path_factory.mktemp(name))
            results[name] = replay(recording, blank_video, out, flags, monkeypatch)
    return results


def test_the_recording_is_a_weak_detector(recording: Recording,
                                          scores: Dict[str, Dict[str, Any]]) -> None:
    """Without the filters the duplicates show: more people than the bound allows."""
    boxes_per_frame = np.mean([len(frame[0]) for frame in recording.frames])
    unfiltered = scores['unfiltered']
    assert boxes_per_frame > 1.2 * unfiltered['num_gt'] / len(recording.frames)
    assert unfiltered['num_pred'] > MAX_PEOPLE_RATIO * unfiltered['num_gt']


def test_people_reported_at_most_1_1x_the_truth(scores: Dict[str, Dict[str, Any]]) -> None:
    raw = scores['raw']
    assert raw['num_gt'] == 270
    assert raw['num_pred'] <= MAX_PEOPLE_RATIO * raw['num_gt']
    assert raw['num_matched'] >= 0.85 * raw['num_gt']


def test_smoothing_lowers_jitter_at_little_error(scores: Dict[str, Dict[str, Any]]) -> None:
    raw, smooth = scores['raw'], scores['smooth']
    assert smooth['num_pred'] <= MAX_PEOPLE_RATIO * smooth['num_gt']
    assert smooth['jitter_px'] <= (1.0 - MIN_JITTER_DROP) * raw['jitter_px']
    assert smooth['mean_error_px'] <= (1.0 + MAX_ERROR_RISE) * raw['mean_error_px']
