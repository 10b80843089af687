"""Detector: inputs fed by name, boxes mapped to original pixels, score/class filtering, CLI."""
import json

import cv2
import numpy as np
import pytest

from deploy.python.det_infer import Detector, main, suppress_overlaps


def test_boxes_are_in_original_pixels_and_filtered(detector_model_dir) -> None:
    image = np.zeros((192, 256, 3), np.uint8)  # DetResize keep_ratio to 128x96: ratio 0.5
    boxes = Detector(detector_model_dir, cpu_threads=1, threshold=0.5).predict(image)
    np.testing.assert_allclose(boxes, [[0, 0.9, 8, 16, 120, 180], [0, 0.8, 136, 16, 248, 180]],
                               rtol=1e-5)
    high = Detector(detector_model_dir, cpu_threads=1, threshold=0.85).predict(image)
    assert len(high) == 1 and high[0, 1] == pytest.approx(0.9)
    assert len(Detector(detector_model_dir, cpu_threads=1, class_ids=[1]).predict(image)) == 0


def test_nms_drops_same_class_overlaps_only() -> None:
    boxes = np.asarray([[0, 0.9, 0, 0, 100, 100],     # kept: best
                        [0, 0.8, 10, 0, 110, 100],    # IoU 0.82 with the first: dropped
                        [1, 0.7, 10, 0, 110, 100],    # other class: kept
                        [0, 0.6, 200, 0, 300, 100]],  # no overlap: kept
                       np.float32)
    np.testing.assert_array_equal(suppress_overlaps(boxes, 0.5), boxes[[0, 2, 3]])
    np.testing.assert_array_equal(suppress_overlaps(boxes, 0.9), boxes)
    with pytest.raises(ValueError, match='nms_iou'):
        Detector('unused', nms_iou=0.0)


def test_cli_image_dir_writes_images_and_json(tmp_path, detector_model_dir) -> None:
    image_dir = tmp_path / 'images'
    image_dir.mkdir()
    for name in ('a.jpg', 'b.png'):
        cv2.imwrite(str(image_dir / name), np.full((96, 128, 3), 40, np.uint8))
    (image_dir / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    main(['--model_dir', detector_model_dir, '--image_dir', str(image_dir), '--output_dir',
          str(out), '--save_results', '--threshold', '0.85', '--enable_mkldnn', 'true'])
    saved = json.loads((out / 'det_results.json').read_text())
    assert [r['image'].rsplit('/', 1)[1] for r in saved['results']] == ['a.jpg', 'b.png']
    assert len(saved['results'][0]['boxes']) == 1 and saved['label_list'] == ['person']
    assert (out / 'a.jpg').is_file() and (out / 'b.png').is_file()


def test_cli_missing_model_dir_fails_first(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='no_model'):
        main(['--model_dir', str(tmp_path / 'no_model'), '--image_file', 'x.jpg'])
