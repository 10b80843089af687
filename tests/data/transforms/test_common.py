from pathlib import Path

import cv2
import numpy as np
import pytest

from ppkpt.core.workspace import build_object
from ppkpt.data.transforms import common
from ppkpt.data.transforms.common import Compose, Decode
from ppkpt.data.transforms.preprocess import Permute
from ppkpt.image_io import ImageReadError

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


def test_common_keeps_only_compose_and_decode():
    assert common.__all__ == ['Compose', 'Decode']
    assert not hasattr(common, 'NormalizeImage') and not hasattr(common, 'Permute')


def test_decode_builds_from_config():
    op = build_object({'Decode': None}, 'TestReader.sample_transforms[0]', {})
    assert isinstance(op, Decode)
    assert op({'image_file': str(IMAGE)})['image'].shape == (425, 640, 3)


def test_compose_keeps_the_error_type_and_its_attributes(tmp_path):
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(ImageReadError, match=r'Decode failed on .*empty\.jpg: cannot read') as err:
        Compose([Decode()])({'image_file': str(empty)})
    assert err.value.path == str(empty)
