"""Finding and reading images: one behaviour for training, tools and deploy."""
import glob
import os
import pickle
import struct

import cv2
import numpy as np
import pytest

from ppkpt.image_io import ImageReadError, list_images, read_rgb

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')
JPEG = os.path.join(DATA, 'coco', '000000000785.jpg')
PNG = os.path.join(DATA, 'tlpss', 'images', '0.png')


def write(tmp_path, name: str, data: bytes) -> str:
    """Write ``data`` to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def read_bytes(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def read_error(path: str) -> ImageReadError:
    """The ImageReadError that reading ``path`` raises."""
    with pytest.raises(ImageReadError) as info:
        read_rgb(path)
    assert info.value.path == path and path in str(info.value)
    return info.value


def test_read_rgb_returns_rgb(tmp_path) -> None:
    path = tmp_path / 'blue.png'
    cv2.imwrite(str(path), np.tile(np.array([255, 0, 0], np.uint8), (4, 5, 1)))  # BGR blue
    image = read_rgb(str(path))
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 0], [0, 0, 255])


def test_every_fixture_image_reads() -> None:
    paths = [path for path in glob.glob(os.path.join(DATA, '**', '*'), recursive=True)
             if path.lower().endswith(('.jpg', '.png'))]
    assert {os.path.splitext(path)[1] for path in paths} == {'.jpg', '.png'}
    for path in paths:
        np.testing.assert_array_equal(read_rgb(path), cv2.imread(path)[:, :, ::-1])


def test_a_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r'Image file not found: .*gone\.jpg'):
        read_rgb(str(tmp_path / 'gone.jpg'))


def test_a_zero_byte_file_is_named_not_a_raw_cv2_error(tmp_path) -> None:
    error = read_error(write(tmp_path, 'empty.jpg', b''))
    assert error.reason == 'empty file (0 bytes)'
    assert isinstance(error, ValueError)


@pytest.mark.parametrize('keep', [0.5, 0.9, -2])   # fractions kept, or bytes cut off the end
def test_a_truncated_jpeg_is_an_error_not_a_grey_image(tmp_path, keep) -> None:
    data = read_bytes(JPEG)
    cut = data[:int(len(data) * keep)] if keep > 0 else data[:keep]
    error = read_error(write(tmp_path, 'cut.jpg', cut))
    assert error.reason == f'truncated JPEG ({len(cut)} bytes, no end-of-image marker FF D9)'


@pytest.mark.parametrize('cut_off', [len(read_bytes(PNG)) // 2, 12, 4])  # 12: the IEND chunk
def test_a_truncated_png_is_an_error(tmp_path, cut_off) -> None:
    cut = read_bytes(PNG)[:-cut_off]
    error = read_error(write(tmp_path, 'cut.png', cut))
    assert error.reason == f'truncated PNG ({len(cut)} bytes, no IEND chunk)'


def test_a_truncated_progressive_or_restart_marker_jpeg_is_an_error(tmp_path) -> None:
    image = cv2.imread(JPEG)
    for flags in ([cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 2]):
        data = cv2.imencode('.jpg', image, flags)[1].tobytes()
        assert read_rgb(write(tmp_path, 'whole.jpg', data)).shape == image.shape
        assert 'truncated JPEG' in read_error(write(tmp_path, 'cut.jpg', data[:-200])).reason


def test_a_jpeg_with_a_thumbnail_and_trailing_bytes_is_judged_by_its_own_end(tmp_path) -> None:
    data = read_bytes(JPEG)
    thumbnail = cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    body = b'Exif\x00\x00' + thumbnail                 # holds an FF D9 of its own
    with_thumbnail = data[:2] + b'\xff\xe1' + struct.pack('>H', len(body) + 2) + body + data[2:]
    expected = read_rgb(JPEG)
    np.testing.assert_array_equal(read_rgb(write(tmp_path, 'thumb.jpg', with_thumbnail)),
                                  expected)
    np.testing.assert_array_equal(read_rgb(write(tmp_path, 'tail.jpg', data + b'\x00tail')),
                                  expected)
    assert 'truncated JPEG' in read_error(write(tmp_path, 'cut.jpg', with_thumbnail[:-2])).reason


@pytest.mark.parametrize('data', [b'not a jpeg', b'\xff\xd8 garbage after a JPEG start',
                                  np.random.RandomState(0).bytes(4096)])
def test_garbage_bytes_are_named(tmp_path, data) -> None:
    error = read_error(write(tmp_path, 'bad.jpg', data))
    assert error.reason == (f'not a decodable image ({len(data)} bytes: corrupt, truncated or '
                            f'not an image)')


def test_the_error_crosses_processes_intact() -> None:
    error = pickle.loads(pickle.dumps(ImageReadError('/x/a.jpg', 'empty file (0 bytes)')))
    assert (error.path, error.reason) == ('/x/a.jpg', 'empty file (0 bytes)')
    assert str(error) == 'cannot read image /x/a.jpg: empty file (0 bytes)'


def test_list_images_names_the_flags(tmp_path) -> None:
    for name in ('b.webp', 'a.JPG', 'notes.txt'):
        (tmp_path / name).write_bytes(b'x')
    assert [p.rsplit('/', 1)[1] for p in list_images(None, str(tmp_path))] == ['a.JPG', 'b.webp']
    assert list_images(str(tmp_path / 'a.JPG'), str(tmp_path)) == [str(tmp_path / 'a.JPG')]
    flags = ('--infer_img', '--infer_dir')
    with pytest.raises(ValueError, match='give --infer_img or --infer_dir'):
        list_images(None, None, flags)
    with pytest.raises(FileNotFoundError, match='--infer_dir not found'):
        list_images(None, str(tmp_path / 'none'), flags)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='--image_dir .*empty holds no image'):
        list_images(None, str(tmp_path / 'empty'))
