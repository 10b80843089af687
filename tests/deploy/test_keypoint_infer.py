"""KeypointDetector: crop geometry, batching, decoding back to image pixels, the codec from
infer_cfg.yml (and the fallback for PaddleDetection exports), arch dispatch."""
import os
import shutil

import cv2
import numpy as np
import pytest
import yaml

from deploy.python.keypoint_infer import KeypointDetector, main
from ppkpt.codecs import HeatmapCodec
from ppkpt.geometry import box_to_center_scale, clip_box_xywh, crop_matrix
from ppkpt.metadata import CONFIG_KEYS

SPOTS = [(70.0, 90.0), (150.0, 60.0)]  # (x, y) of one bright blob per person
BOXES = np.array([[40.0, 50.0, 100.0, 140.0], [125.0, 20.0, 175.0, 110.0]])


def _blob_image(height: int = 200, width: int = 220, sigma: float = 10.0) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    grey = np.zeros((height, width))
    for x, y in SPOTS:
        grey = np.maximum(grey, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)))
    return np.repeat((255 * grey).astype(np.uint8)[..., None], 3, axis=2)


def _rewrite_infer_cfg(src: str, dst, edit) -> str:
    """Copy the model directory ``src`` to ``dst`` with ``edit(infer_cfg dict)`` applied."""
    shutil.copytree(src, dst)
    path = os.path.join(dst, 'infer_cfg.yml')
    with open(path) as handle:
        cfg = yaml.safe_load(handle)
    edit(cfg)
    with open(path, 'w') as handle:
        yaml.safe_dump(cfg, handle)
    return str(dst)


def _paddledetection_style(cfg: dict) -> None:
    """What a PaddleDetection keypoint export looks like: no ``codec``, no metadata, the crop
    size only as ``TopDownEvalAffine.trainsize`` and ``use_dark`` at the top level."""
    cfg.pop('codec')
    for key in CONFIG_KEYS.values():
        cfg.pop(key, None)
    cfg['arch'] = 'HRNet'


def _recorded_crops(detector: KeypointDetector) -> list:
    """Make ``detector`` keep every record its preprocessing returns."""
    records = []
    preprocess = detector.preprocess

    def keep(record):
        records.append(preprocess(record))
        return records[-1]

    detector.preprocess = keep
    return records


def test_deploy_crop_of_a_box_is_the_eval_crop(keypoint_model_dir) -> None:
    image = _blob_image()  # 200 x 220
    boxes = np.array([[40.0, 50.0, 100.0, 140.0],     # tall: widened to the 48:64 aspect
                      [10.0, 80.0, 150.0, 110.0],     # wide: heightened
                      [-30.0, 150.0, 60.0, 260.0],    # leaves the image: clipped first
                      [120.5, 20.25, 170.75, 70.5]])  # fractional pixels
    detector = KeypointDetector(keypoint_model_dir, batch_size=3, cpu_threads=1)
    records = _recorded_crops(detector)
    detector.predict(image, boxes)
    assert len(records) == len(boxes)
    aspect = 48 / 64
    for record, (x1, y1, x2, y2) in zip(records, boxes):
        box = clip_box_xywh([x1, y1, x2 - x1, y2 - y1], image.shape[1], image.shape[0])
        center, scale = box_to_center_scale(box, aspect, 200, padding=1.25)
        np.testing.assert_allclose(record['center'], center, rtol=0, atol=1e-4)
        np.testing.assert_allclose(record['scale'], scale, rtol=1e-6, atol=0)
        assert record['image'].shape == (3, 64, 48)
    # the third box really was clipped: its centre is not the raw box centre
    assert not np.allclose(records[2]['center'], [15.0, 205.0])


def test_codec_is_rebuilt_exactly_from_infer_cfg(keypoint_model_dir) -> None:
    with open(os.path.join(keypoint_model_dir, 'infer_cfg.yml')) as handle:
        infer_cfg = yaml.safe_load(handle)
    detector = KeypointDetector(keypoint_model_dir, cpu_threads=1)
    assert detector.codec.to_config() == infer_cfg['codec']
    assert infer_cfg['codec'] == HeatmapCodec([48, 64], [12, 16], use_dark=False).to_config()
    assert detector.affine.codec is detector.codec
    assert infer_cfg['use_dark'] is False  # written for PaddleDetection's deploy
    dark = KeypointDetector(keypoint_model_dir, cpu_threads=1, use_dark=True)
    assert dark.codec.to_config() == dict(infer_cfg['codec'], use_dark=True)


def test_codec_entry_wins_over_the_top_level_use_dark(tmp_path, keypoint_model_dir) -> None:
    model_dir = _rewrite_infer_cfg(keypoint_model_dir, tmp_path / 'm',
                                   lambda cfg: cfg.update(use_dark=True))
    assert KeypointDetector(model_dir, cpu_threads=1).codec.use_dark is False


def test_paddledetection_export_without_codec_uses_the_fallback(tmp_path,
                                                                keypoint_model_dir) -> None:
    model_dir = _rewrite_infer_cfg(keypoint_model_dir, tmp_path / 'ppdet', _paddledetection_style)
    with open(os.path.join(model_dir, 'infer_cfg.yml')) as handle:
        raw = yaml.safe_load(handle)
    assert 'codec' not in raw and 'num_joints' not in raw
    assert raw['Preprocess'][0] == {'type': 'TopDownEvalAffine', 'trainsize': [48, 64]}
    detector = KeypointDetector(model_dir, cpu_threads=1)
    # input size from trainsize, heatmap size from the probe run, use_dark from the top level
    assert detector.codec.to_config() == HeatmapCodec([48, 64], [12, 16],
                                                      use_dark=False).to_config()
    assert detector.meta.num_joints == 3
    image = _blob_image()
    fallback, _ = detector.predict(image, BOXES)
    exported, _ = KeypointDetector(keypoint_model_dir, cpu_threads=1).predict(image, BOXES)
    np.testing.assert_allclose(fallback, exported, rtol=0, atol=1e-4)


def test_paddledetection_fallback_reads_use_dark_and_use_udp(tmp_path,
                                                             keypoint_model_dir) -> None:
    def dark_udp(cfg):
        _paddledetection_style(cfg)
        cfg['use_dark'] = True
        cfg['Preprocess'][0]['use_udp'] = True

    detector = KeypointDetector(_rewrite_infer_cfg(keypoint_model_dir, tmp_path / 'udp',
                                                   dark_udp), cpu_threads=1)
    assert detector.codec.use_dark is True and detector.codec.target_type == 'udp'
    image = _blob_image()
    record = detector.affine({'image': image, 'bbox': [40.0, 50.0, 60.0, 90.0]})
    mat = crop_matrix(record['center'], record['scale'].astype(np.float64) * 200.0, 0.0,
                      [48, 64], use_udp=True)
    np.testing.assert_array_equal(record['image'], cv2.warpAffine(image, mat, (48, 64),
                                                                  flags=cv2.INTER_LINEAR))
    keypoints, _ = detector.predict(image, BOXES)
    assert keypoints.shape == (2, 3, 3) and np.all(keypoints[:, :, 2] > 0)


def test_export_without_codec_or_trainsize_is_rejected(tmp_path, keypoint_model_dir) -> None:
    def no_size(cfg):
        _paddledetection_style(cfg)
        cfg['Preprocess'][0].pop('trainsize')

    model_dir = _rewrite_infer_cfg(keypoint_model_dir, tmp_path / 'nosize', no_size)
    with pytest.raises(ValueError, match='no `codec` entry and no TopDownEvalAffine.trainsize'):
        KeypointDetector(model_dir, cpu_threads=1)


def test_trainsize_that_disagrees_with_the_codec_is_rejected(tmp_path,
                                                             keypoint_model_dir) -> None:
    def other_size(cfg):
        cfg['Preprocess'][0]['trainsize'] = [64, 64]

    model_dir = _rewrite_infer_cfg(keypoint_model_dir, tmp_path / 'size', other_size)
    with pytest.raises(ValueError, match=r'Preprocess\[0\].*trainsize \[64, 64\] differs'):
        KeypointDetector(model_dir, cpu_threads=1)


def test_keypoints_land_on_the_blobs_in_image_pixels(keypoint_model_dir) -> None:
    detector = KeypointDetector(keypoint_model_dir, batch_size=2, cpu_threads=1, use_dark=True)
    keypoints, scores = detector.predict(_blob_image(), BOXES)
    assert keypoints.shape == (2, 3, 3) and scores.shape == (2,)
    for person, (x, y) in enumerate(SPOTS):
        np.testing.assert_allclose(keypoints[person, :, 0], x, atol=1.5)
        np.testing.assert_allclose(keypoints[person, :, 1], y, atol=1.5)
    assert np.all(scores > 0)
    assert set(detector.timer.summary()) == {'kpt_pre', 'kpt_infer', 'kpt_post'}


def test_batch_size_does_not_change_results(keypoint_model_dir) -> None:
    image = _blob_image()
    one = KeypointDetector(keypoint_model_dir, batch_size=1, cpu_threads=1).predict(image, BOXES)
    two = KeypointDetector(keypoint_model_dir, batch_size=2, cpu_threads=1).predict(image, BOXES)
    np.testing.assert_allclose(one[0], two[0], atol=1e-4)
    assert len(KeypointDetector(keypoint_model_dir, cpu_threads=1).timer.times) == 0


def test_whole_image_and_empty_boxes(keypoint_model_dir) -> None:
    detector = KeypointDetector(keypoint_model_dir, cpu_threads=1, use_dark=True)
    keypoints, _ = detector.predict(_blob_image()[:, :110])  # only the first blob
    np.testing.assert_allclose(keypoints[0, :, :2], [SPOTS[0]] * 3, atol=2.0)
    empty, empty_scores = detector.predict(_blob_image(), np.zeros((0, 4)))
    assert empty.shape == (0, 3, 3) and empty_scores.shape == (0,)


def test_unsupported_arch_lists_supported(tmp_path, keypoint_model_dir) -> None:
    model_dir = tmp_path / 'bottomup'
    shutil.copytree(keypoint_model_dir, model_dir)
    cfg = yaml.safe_load((model_dir / 'infer_cfg.yml').read_text())
    cfg['arch'] = 'HigherHRNet'
    (model_dir / 'infer_cfg.yml').write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match=r"'HigherHRNet' is not supported.*TopDownHRNet"):
        KeypointDetector(str(model_dir))


def test_cli_on_an_image_writes_outputs(tmp_path, keypoint_model_dir) -> None:
    image_file = str(tmp_path / 'blob.png')
    cv2.imwrite(image_file, _blob_image()[:, :110])
    out_dir = tmp_path / 'out'
    output = main(['--model_dir', keypoint_model_dir, '--image_file', image_file,
                   '--output_dir', str(out_dir), '--save_results', '--run_benchmark',
                   '--cpu_threads', '1', '--enable_mkldnn', 'false'])
    assert os.path.isfile(out_dir / 'blob.png')
    saved = yaml.safe_load((out_dir / 'keypoint_results.json').read_text())
    assert saved['num_joints'] == 3 and len(saved['results'][0]['persons']) == 1
    assert output['benchmark']['frames'] == 1 and 'kpt_infer_ms' in output['benchmark']


def test_cli_missing_image_fails_before_loading(tmp_path, keypoint_model_dir) -> None:
    with pytest.raises(FileNotFoundError, match='no.png'):
        main(['--model_dir', keypoint_model_dir, '--image_file', str(tmp_path / 'no.png')])


def test_export_without_metadata_gets_k_from_the_model(tmp_path, keypoint_model_dir) -> None:
    model_dir = tmp_path / 'ppdet_style'
    shutil.copytree(keypoint_model_dir, model_dir)
    cfg = yaml.safe_load((model_dir / 'infer_cfg.yml').read_text())
    for key in CONFIG_KEYS.values():
        cfg.pop(key, None)
    (model_dir / 'infer_cfg.yml').write_text(yaml.safe_dump(cfg))
    detector = KeypointDetector(str(model_dir), cpu_threads=1)
    assert detector.meta.num_joints == 3 and detector.meta.names == ['kp0', 'kp1', 'kp2']
    keypoints, _ = detector.predict(_blob_image(), np.zeros((0, 4)))
    assert keypoints.shape == (0, 3, 3)
