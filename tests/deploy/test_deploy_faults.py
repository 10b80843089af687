"""Bad inputs in deploy: degenerate boxes, empty images and frames, zero-byte images,
truncated and unreadable videos. Each is logged and written through, never a raw cv2.error."""
import json
import logging
import os
import struct
from typing import Iterator, List

import cv2
import numpy as np
import pytest

from deploy.python import det_keypoint_unite_infer as unite
from deploy.python.pipeline_outputs import PADDLEDET_VIDEO_JSON
from deploy.python import keypoint_infer
from deploy.python.det_infer import Detector
from deploy.python.io_utils import VideoReadError, VideoSink, VideoSource
from deploy.python.keypoint_infer import KeypointDetector, usable_boxes

GOOD_BOX = [40.0, 50.0, 100.0, 140.0]
SPOT = (70.0, 90.0)
BAD_BOXES = {
    'zero size': ([60.0, 60.0, 60.0, 60.0], 'under 1 px wide or high'),
    'zero width': ([60.0, 50.0, 60.0, 140.0], 'under 1 px wide or high'),
    'outside right': ([300.0, 10.0, 350.0, 60.0], 'outside the 220x200 image'),
    'outside left': ([-100.0, 10.0, -50.0, 60.0], 'outside the 220x200 image'),
    'outside below': ([10.0, 250.0, 60.0, 300.0], 'outside the 220x200 image'),
    'inverted': ([100.0, 140.0, 40.0, 50.0], 'inverted'),
    'nan': ([np.nan, 50.0, 100.0, 140.0], 'not finite'),
    'inf': ([40.0, 50.0, np.inf, 140.0], 'not finite'),
    'sliver at the edge': ([219.5, 10.0, 260.0, 60.0], 'outside the 220x200 image'),
}


def _blob_image(height: int = 200, width: int = 220) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    grey = np.exp(-((xs - SPOT[0]) ** 2 + (ys - SPOT[1]) ** 2) / (2 * 10.0 ** 2))
    return np.repeat((255 * grey).astype(np.uint8)[..., None], 3, axis=2)


@pytest.fixture(scope='module')
def detector(keypoint_model_dir: str) -> KeypointDetector:
    return KeypointDetector(keypoint_model_dir, batch_size=2, cpu_threads=1)


@pytest.mark.parametrize('case', sorted(BAD_BOXES))
def test_degenerate_box_is_dropped_with_a_debug_log(detector, case, caplog) -> None:
    box, reason = BAD_BOXES[case]
    image = _blob_image()
    good, good_scores = detector.predict(image, np.array([GOOD_BOX]))
    with caplog.at_level(logging.DEBUG, logger='ppkpt.deploy'):
        mixed, mixed_scores = detector.predict(image, np.array([box, GOOD_BOX]))
        alone, alone_scores = detector.predict(image, np.array([box]))
    np.testing.assert_array_equal(mixed, good)
    np.testing.assert_array_equal(mixed_scores, good_scores)
    assert alone.shape == (0, 3, 3) and alone_scores.shape == (0,)
    assert np.all(np.isfinite(good)) and np.allclose(good[0, :, :2], [SPOT] * 3, atol=2.0)
    assert any('box 0' in r.message and reason in r.message and r.levelno == logging.DEBUG
               for r in caplog.records)


def test_usable_boxes_keeps_boxes_partly_inside() -> None:
    boxes = np.array([GOOD_BOX, [-30.0, 150.0, 60.0, 260.0], [0.0, 0.0, 220.0, 200.0],
                      [218.0, 10.0, 260.0, 60.0]])
    assert usable_boxes(boxes, 220, 200).tolist() == [True, True, True, True]
    assert usable_boxes(np.zeros((0, 4)), 220, 200).tolist() == []


def test_empty_image_gives_no_keypoints_and_no_boxes(detector, detector_model_dir,
                                                     caplog) -> None:
    boxes_detector = Detector(detector_model_dir, cpu_threads=1)
    for empty in (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 5, 3), np.uint8)):
        with caplog.at_level(logging.WARNING, logger='ppkpt.deploy'):
            keypoints, scores = detector.predict(empty, np.array([GOOD_BOX]))
            boxes = boxes_detector.predict(empty)
        assert keypoints.shape == (0, 3, 3) and scores.shape == (0,)
        assert boxes.shape == (0, 6)
    assert sum('empty image' in r.message for r in caplog.records) == 4


def test_non_rgb_image_is_a_clear_error(detector) -> None:
    with pytest.raises(ValueError, match=r'expected an \(H, W, 3\) RGB image, got shape'):
        detector.predict(np.zeros((20, 20), np.uint8))


class _FixedBoxes:
    """A detector stand-in returning the given (M, 6) rows for every frame."""

    def __init__(self, rows: List[List[float]]) -> None:
        self.rows = np.asarray(rows, np.float32)

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.rows.copy()


def test_unite_pipeline_drops_degenerate_boxes(detector, tmp_path, caplog) -> None:
    rows = [[0, 0.9, *GOOD_BOX]] + [[0, 0.8, *box] for box, _ in BAD_BOXES.values()]
    pipeline = unite.TopDownPipeline(_FixedBoxes(rows), detector, keypoint_threshold=0.2)
    image_file = tmp_path / 'blob.png'
    cv2.imwrite(str(image_file), _blob_image())
    out = tmp_path / 'out'
    out.mkdir()
    with caplog.at_level(logging.DEBUG, logger='ppkpt.deploy'):
        document = unite.run_images(pipeline, [str(image_file)], str(out))
    persons = document['frames'][0]['persons']
    assert len(persons) == 1 and persons[0]['bbox'] == GOOD_BOX
    keypoints = np.asarray(persons[0]['keypoints'])
    assert np.all(np.isfinite(keypoints)) and np.allclose(keypoints[:, :2], [SPOT] * 3, atol=2)
    assert sum('dropped' in r.message for r in caplog.records) == len(BAD_BOXES)


class _FramesSource:
    """A video source stand-in: the given BGR frames (some may be empty)."""

    def __init__(self, frames: List[np.ndarray], size=(220, 200)) -> None:
        self.frames, self.size, self.fps = frames, size, 10.0
        self.name, self.label = 'clip', 'video file clip.mp4'
        self.frames_announced, self.truncated = len(frames), False

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.frames)


def test_empty_frame_is_written_as_a_black_frame(detector, tmp_path, caplog) -> None:
    frame = cv2.cvtColor(_blob_image(), cv2.COLOR_RGB2BGR)
    source = _FramesSource([frame, np.zeros((0, 0, 3), np.uint8), frame])
    pipeline = unite.TopDownPipeline(_FixedBoxes([[0, 0.9, *GOOD_BOX]]), detector,
                                     keypoint_threshold=0.2, track=True, smooth=True)
    with caplog.at_level(logging.WARNING, logger='ppkpt.deploy'):
        document = unite.run_video(pipeline, source, str(tmp_path))
    assert [len(f['persons']) for f in document['frames']] == [1, 0, 1]
    assert document['frames'][1]['skipped'] == 'empty frame' and document['complete']
    assert any('frame 1 is empty' in r.message for r in caplog.records)
    capture = cv2.VideoCapture(str(tmp_path / 'clip.mp4'))
    written = [capture.read()[1] for _ in range(3)]
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()
    assert written[1].mean() < 2 and written[0].max() > 100  # black, then the blob frame
    saved = json.loads((tmp_path / 'clip_pose.json').read_text())
    assert saved['truncated'] is False and len(saved['frames']) == 3


def test_zero_byte_image_is_copied_through(tmp_path, detector_model_dir, keypoint_model_dir,
                                           caplog) -> None:
    image_dir = tmp_path / 'images'
    image_dir.mkdir()
    cv2.imwrite(str(image_dir / 'a.png'), _blob_image())
    (image_dir / 'b.jpg').write_bytes(b'')
    out = tmp_path / 'out'
    with caplog.at_level(logging.WARNING, logger='ppkpt.deploy'):
        unite.main(['--det_model_dir', detector_model_dir, '--keypoint_model_dir',
                    keypoint_model_dir, '--image_dir', str(image_dir), '--output_dir', str(out),
                    '--save_res', '--cpu_threads', '1'])
        keypoint_infer.main(['--model_dir', keypoint_model_dir, '--image_dir', str(image_dir),
                             '--output_dir', str(tmp_path / 'kpt'), '--cpu_threads', '1'])
    assert (out / 'b.jpg').read_bytes() == b'' and (tmp_path / 'kpt' / 'b.jpg').is_file()
    assert (out / 'a.png').is_file()
    frames = json.loads((out / 'pose_results.json').read_text())['frames']
    assert [f.get('skipped') for f in frames] == [None, 'unreadable image']
    assert frames[0]['persons'] and frames[1]['persons'] == []
    assert sum('empty file (0 bytes)' in r.message for r in caplog.records) == 2


_MP4_CONTAINERS = {b'moov', b'trak', b'mdia', b'minf', b'stbl'}


def _atoms(data: bytes, start: int, end: int):
    """(offset, size, type) of the MP4 boxes between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack('>I4s', data[pos:pos + 8])
        yield pos, size, kind
        pos += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, delta: int) -> None:
    for pos, size, kind in _atoms(moov, start, end):
        if kind in _MP4_CONTAINERS:
            _shift_chunk_offsets(moov, pos + 8, pos + size, delta)
        elif kind == b'stco':
            count = struct.unpack('>I', moov[pos + 12:pos + 16])[0]
            for at in range(pos + 16, pos + 16 + 4 * count, 4):
                moov[at:at + 4] = struct.pack('>I', struct.unpack('>I', moov[at:at + 4])[0]
                                              + delta)


def _index_first(data: bytes) -> bytes:
    """The MP4 with its index (moov) moved before the media data, as streaming files have it,
    so a cut file still opens."""
    boxes = {kind: (pos, size) for pos, size, kind in _atoms(data, 0, len(data))}
    moov_pos, moov_size = boxes[b'moov']
    moov = bytearray(data[moov_pos:moov_pos + moov_size])
    _shift_chunk_offsets(moov, 8, len(moov), moov_size)
    rest = data[:moov_pos] + data[moov_pos + moov_size:]
    mdat_pos = boxes[b'mdat'][0]
    return rest[:mdat_pos] + bytes(moov) + rest[mdat_pos:]


def _unite_video(det_dir: str, kpt_dir: str, video: str, out: str) -> dict:
    return unite.main(['--det_model_dir', det_dir, '--keypoint_model_dir', kpt_dir,
                       '--video_file', video, '--output_dir', out, '--save_res', '--smooth',
                       '--cpu_threads', '1', '--keypoint_threshold', '0.2'])


def test_truncated_video_gives_a_playable_video_and_json(plier_data, tmp_path, caplog,
                                                         detector_model_dir,
                                                         keypoint_model_dir) -> None:
    with open(os.path.join(plier_data, 'video', 'demo.mp4'), 'rb') as handle:
        data = _index_first(handle.read())
    cut = tmp_path / 'cut.mp4'
    cut.write_bytes(data[:len(data) // 2])
    out = tmp_path / 'out'
    with caplog.at_level(logging.WARNING, logger='ppkpt.deploy'):
        document = _unite_video(detector_model_dir, keypoint_model_dir, str(cut), str(out))
    read = len(document['frames'])
    assert 0 < read < 12 and document['frames_announced'] == 12
    warnings = [r.message for r in caplog.records if 'truncated' in r.message]
    assert len(warnings) == 1 and f'stopped after frame {read - 1} ' in warnings[0]
    assert str(cut) in warnings[0]
    saved = json.loads((out / 'cut_pose.json').read_text())
    assert saved['truncated'] is True and saved['complete'] is True
    assert [f['frame'] for f in saved['frames']] == list(range(read))
    capture = cv2.VideoCapture(str(out / 'cut.mp4'))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == read
    paddledet = json.loads((out / PADDLEDET_VIDEO_JSON).read_text())
    assert [entry[0] for entry in paddledet] == list(range(1, read + 1))


def test_video_cut_before_its_index_is_a_clear_error(plier_data, tmp_path, detector_model_dir,
                                                     keypoint_model_dir, monkeypatch) -> None:
    with open(os.path.join(plier_data, 'video', 'demo.mp4'), 'rb') as handle:
        data = handle.read()
    cut = tmp_path / 'cut.mp4'
    cut.write_bytes(data[:len(data) // 2])  # OpenCV writes the index (moov) at the end
    monkeypatch.setattr(KeypointDetector, '__init__', _fail_if_called)
    with pytest.raises(VideoReadError, match=f'cannot read video file {cut}: OpenCV cannot '
                                             f'open it'):
        _unite_video(detector_model_dir, keypoint_model_dir, str(cut), str(tmp_path / 'out'))


@pytest.mark.parametrize('case', ['missing', 'directory', 'text', 'zero bytes'])
def test_unreadable_video_names_the_file(tmp_path, case) -> None:
    path = tmp_path / 'clip.mp4'
    if case == 'directory':
        path.mkdir()
    elif case == 'text':
        path.write_text('not a video')
    elif case == 'zero bytes':
        path.write_bytes(b'')
    error = FileNotFoundError if case in ('missing', 'directory') else VideoReadError
    with pytest.raises(error, match=str(path)):
        VideoSource(str(path))


def test_complete_video_is_not_truncated(plier_data) -> None:
    source = VideoSource(os.path.join(plier_data, 'video', 'demo.mp4'))
    assert sum(1 for _ in source) == 12 == source.frames_announced
    assert source.truncated is False
    source.close()


def test_sink_blank_frame_has_the_video_size(tmp_path) -> None:
    sink = VideoSink(str(tmp_path / 'v.mp4'), 10.0, (64, 48))
    assert sink.blank().shape == (48, 64, 3) and sink.blank().dtype == np.uint8
    sink.close()


def _fail_if_called(*args, **kwargs) -> None:
    raise AssertionError('a model was loaded before the inputs were checked')
