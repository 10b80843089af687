"""KeypointDetector: crop geometry, batching, decoding back to image pixels, arch dispatch."""
import os
import shutil

import numpy as np
import pytest
import yaml

from deploy.python.keypoint_infer import KeypointDetector, expand_box, main

SPOTS = [(70.0, 90.0), (150.0, 60.0)]  # (x, y) of one bright blob per person
BOXES = np.array([[40.0, 50.0, 100.0, 140.0], [125.0, 20.0, 175.0, 110.0]])


def _blob_image(height: int = 200, width: int = 220, sigma: float = 10.0) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    grey = np.zeros((height, width))
    for x, y in SPOTS:
        grey = np.maximum(grey, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)))
    return np.repeat((255 * grey).astype(np.uint8)[..., None], 3, axis=2)


def test_expand_box_grows_widens_tall_and_clips() -> None:
    np.testing.assert_allclose(expand_box([100, 100, 120, 200], (1000, 1000)),
                               [61.25, 85.0, 158.75, 215.0])
    wide = expand_box([100, 100, 200, 120], (1000, 1000))
    np.testing.assert_allclose(wide, [85.0, 97.0, 215.0, 123.0])
    clipped = expand_box([0, 0, 50, 50], (40, 60))
    assert clipped[0] == 0 and clipped[1] == 0 and clipped[2] == 39 and clipped[3] <= 59


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
    import cv2
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
    for key in ('num_joints', 'keypoint_names', 'skeleton', 'sigmas', 'flip_perm',
                'upper_body_ids', 'keypoint_colors', 'keypoint_score_thresholds'):
        cfg.pop(key, None)
    (model_dir / 'infer_cfg.yml').write_text(yaml.safe_dump(cfg))
    detector = KeypointDetector(str(model_dir), cpu_threads=1)
    assert detector.meta.num_joints == 3 and detector.meta.names == ['kp0', 'kp1', 'kp2']
    keypoints, _ = detector.predict(_blob_image(), np.zeros((0, 4)))
    assert keypoints.shape == (0, 3, 3)
