"""Record the fixture of ``tests/deploy/test_weak_detector.py``: what the demo's weak detector and
keypoint model give on every frame of the demo video.

    python tests/data/weak_detector/record.py
        [--det_model_dir demo_output/inference/centernet_lite_demo]
        [--keypoint_model_dir demo_output/inference/hrnet_plier_demo]
        [--video dataset/demo/video/demo.mp4] [--det_threshold 0.05]

It runs ``det_keypoint_unite_infer.py``'s own pipeline (command-line defaults, every frame, no
smoothing) with a recorder around both models and writes, beside this file:

* ``outputs.npz``: ``boxes`` (B, 6) the usable person boxes of every frame in order
  (class, score, x1, y1, x2, y2), ``counts`` (F,) boxes per frame, ``keypoints`` (B, K, 3) and
  ``scores`` (B,) the keypoint model's output for each box, ``fps`` and ``frame_size`` (w, h)
  of the video;
* ``meta.json``: the keypoint model's metadata (``KeypointMeta.to_dict()``);
* ``demo_gt.json``: the video's ground truth (copied).

Run it after ``scripts/demo.sh`` whenever the demo's models or the deploy preprocessing change.
"""
import json
import os
import shutil
import sys
import tempfile
from typing import Any, List, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)

from benchmarks.weak_detector import build_parser  # noqa: E402
from deploy.python import det_keypoint_unite_infer as unite  # noqa: E402
from deploy.python.io_utils import VideoSource  # noqa: E402
from deploy.python.pipeline_outputs import run_video  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class RecordingDetector:
    """A pipeline's detector that keeps its last boxes and starts a frame record on each call."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.frames: List[List[Tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
        self.last_boxes = np.zeros((0, 6), np.float32)

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        self.last_boxes = self.detector.predict(image_rgb)
        self.frames.append([])
        return self.last_boxes


class RecordingKeypoints:
    """A pipeline's keypoint model that records, into the detector's current frame, the
    detector rows it was given and what it returned for them."""

    def __init__(self, keypoint_detector: Any, detector: RecordingDetector) -> None:
        self.keypoint_detector, self.detector = keypoint_detector, detector
        self.meta, self.batch_size = keypoint_detector.meta, keypoint_detector.batch_size

    def predict(self, image_rgb: np.ndarray, boxes_xyxy: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
        keypoints, scores = self.keypoint_detector.predict(image_rgb, boxes_xyxy)
        last = self.detector.last_boxes
        rows = [int(np.flatnonzero((last[:, 2:6] == box).all(axis=1))[0]) for box in boxes_xyxy]
        self.detector.frames[-1].append((last[rows], keypoints, scores))
        return keypoints, scores


def record(det_model_dir: str, keypoint_model_dir: str, video: str, det_threshold: float) -> None:
    """Run the pipeline on ``video`` and write the fixture files beside this script."""
    args = unite.build_parser().parse_args(
        ['--det_model_dir', det_model_dir, '--keypoint_model_dir', keypoint_model_dir,
         '--video_file', video, '--det_threshold', str(det_threshold)])
    source = VideoSource(video)
    pipeline = unite._build_pipeline(args, source)
    detector = RecordingDetector(pipeline.detector)
    keypoints_model = RecordingKeypoints(pipeline.keypoint_detector, detector)
    pipeline.detector, pipeline.keypoint_detector = detector, keypoints_model
    with tempfile.TemporaryDirectory() as out:
        run_video(pipeline, source, out, save_res=False)
    boxes, keypoints, scores, counts = [], [], [], []
    for calls in detector.frames:
        counts.append(sum(len(call[0]) for call in calls))
        for call_boxes, call_keypoints, call_scores in calls:
            boxes.append(call_boxes)
            keypoints.append(call_keypoints)
            scores.append(call_scores)
    num_joints = keypoints_model.meta.num_joints
    np.savez_compressed(
        os.path.join(HERE, 'outputs.npz'),
        boxes=np.concatenate(boxes or [np.zeros((0, 6))]).astype(np.float32),
        counts=np.asarray(counts, np.int64),
        keypoints=np.concatenate(keypoints or [np.zeros((0, num_joints, 3))]).astype(np.float32),
        scores=np.concatenate(scores or [np.zeros(0)]).astype(np.float32),
        fps=np.float64(source.fps), frame_size=np.asarray(source.size, np.int64))
    with open(os.path.join(HERE, 'meta.json'), 'w', encoding='utf-8') as handle:
        json.dump(keypoints_model.meta.to_dict(), handle, indent=1)
    shutil.copyfile(os.path.join(os.path.dirname(video), 'demo_gt.json'),
                    os.path.join(HERE, 'demo_gt.json'))
    print(f'{len(counts)} frames, {sum(counts)} boxes recorded in {HERE}')


def main() -> None:
    args = build_parser(__doc__).parse_args()
    record(args.det_model_dir, args.keypoint_model_dir, args.video, args.det_threshold)


if __name__ == '__main__':
    main()
