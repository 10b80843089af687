"""Finding and reading images: one behaviour for training, tools and deploy."""
import cv2
import numpy as np
import pytest

from ppkpt.image_io import list_images, read_rgb


def test_read_rgb_returns_rgb_and_names_bad_files(tmp_path) -> None:
    path = tmp_path / 'blue.png'
    cv2.imwrite(str(path), np.tile(np.array([255, 0, 0], np.uint8), (4, 5, 1)))  # BGR blue
    np.testing.assert_array_equal(read_rgb(str(path))[0, 0], [0, 0, 255])
    (tmp_path / 'bad.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match='bad.jpg'):
        read_rgb(str(tmp_path / 'bad.jpg'))
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        read_rgb(str(tmp_path / 'gone.jpg'))


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
