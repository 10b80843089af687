from pathlib import Path

import cv2
import numpy as np
import pytest

from ppkpt.core.workspace import build_object
from ppkpt.data.transforms import Compose, Decode, NormalizeImage, Permute

IMAGE = Path(__file__).resolve().parents[1] / 'coco' / '000000000785.jpg'


def test_decode_reads_rgb_and_shape():
    out = Decode()({'image_file': str(IMAGE)})
    bgr = cv2.imread(str(IMAGE))
    assert out['image'].shape == (425, 640, 3) and out['image'].dtype == np.uint8
    np.testing.assert_array_equal(out['image'], bgr[:, :, ::-1])
    np.testing.assert_array_equal(out['im_shape'], [425, 640])
    assert out['im_shape'].dtype == np.float32


def test_decode_keeps_an_existing_image_array():
    image = np.full((4, 6, 3), 7, dtype=np.uint8)
    out = Decode()({'image': image, 'image_file': 'not/read.jpg'})
    assert out['image'] is image
    np.testing.assert_array_equal(out['im_shape'], [4, 6])


def test_decode_missing_file_names_it(tmp_path):
    missing = tmp_path / 'nope.jpg'
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        Decode()({'image_file': str(missing)})


def test_decode_corrupt_file_names_it(tmp_path):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(IMAGE.read_bytes()[:20])
    with pytest.raises(ValueError, match='broken.jpg'):
        Decode()({'image_file': str(bad)})


def test_decode_without_file_or_image_says_what_is_missing():
    with pytest.raises(KeyError, match='image_file'):
        Decode()({})


def test_normalize_image_values():
    image = np.array([[[255, 0, 51]]], dtype=np.uint8)
    out = NormalizeImage(mean=[0.5, 0.5, 0.2], std=[0.5, 0.25, 0.1])({'image': image})
    np.testing.assert_allclose(out['image'][0, 0], [1.0, -2.0, 0.0], atol=1e-6)
    assert out['image'].dtype == np.float32
    raw = NormalizeImage(mean=[10, 20, 30], std=[2, 2, 2], is_scale=False)({'image': image})
    np.testing.assert_allclose(raw['image'][0, 0], [122.5, -10.0, 10.5])


@pytest.mark.parametrize('is_scale', [True, False])
def test_normalize_image_matches_the_plain_formula(is_scale):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    if not is_scale:
        mean, std = mean * 255, std * 255
    original = image.copy()
    out = NormalizeImage(mean.tolist(), std.tolist(), is_scale=is_scale)({'image': image})
    mean32 = mean.astype(np.float32).astype(np.float64)
    std32 = std.astype(np.float32).astype(np.float64)
    expected = ((image / 255.0 if is_scale else image) - mean32) / std32
    assert out['image'].dtype == np.float32 and out['image'].flags['C_CONTIGUOUS']
    np.testing.assert_allclose(out['image'], expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(image, original)  # the input is not modified


def test_normalize_image_takes_strided_and_float_images():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    op = NormalizeImage(mean=[0.1, 0.2, 0.3], std=[0.3, 0.2, 0.1])
    expected = op({'image': image[:, ::-1].copy()})['image']
    np.testing.assert_array_equal(op({'image': image[:, ::-1]})['image'], expected)
    np.testing.assert_array_equal(op({'image': image.astype(np.float64)})['image'],
                                  op({'image': image})['image'])
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        op({'image': np.zeros((4, 4, 4), np.uint8)})


def test_normalize_image_rejects_bad_arguments():
    with pytest.raises(ValueError, match='3 values'):
        NormalizeImage(mean=[0.5, 0.5], std=[1, 1, 1])
    with pytest.raises(ValueError, match='non-zero'):
        NormalizeImage(std=[1, 0, 1])


def test_permute_gives_contiguous_chw_float32():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out = Permute()({'image': image})['image']
    assert out.shape == (3, 2, 3) and out.dtype == np.float32 and out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out[1], image[:, :, 1])


def test_compose_applies_ops_in_order():
    def add(key):
        def op(record):
            record.setdefault('trace', []).append(key)
            return record
        return op

    out = Compose([add('a'), add('b'), add('c')])({})
    assert out['trace'] == ['a', 'b', 'c']


def test_compose_error_names_op_and_image_file(tmp_path):
    missing = str(tmp_path / 'gone.jpg')
    pipeline = Compose([Decode(), Permute()])
    with pytest.raises(FileNotFoundError, match=r'Decode failed on .*gone\.jpg'):
        pipeline({'image_file': missing})
    with pytest.raises(ValueError, match=r'Permute failed on x\.jpg'):
        Compose([Permute()])({'image': np.zeros((2, 2)), 'image_file': 'x.jpg'})


def test_compose_rejects_non_callables():
    with pytest.raises(TypeError, match=r'ops\[1\]'):
        Compose([Permute(), 'Permute'])


def test_common_ops_build_from_config():
    op = build_object({'NormalizeImage': {'mean': [0.1, 0.2, 0.3], 'std': [1, 1, 1]}}, cfg={})
    np.testing.assert_allclose(op.mean, [0.1, 0.2, 0.3])
    assert isinstance(build_object({'Permute': None}, cfg={}), Permute)
