"""draw_keypoints: any K, metadata skeleton and colours, thresholds, ids and boxes."""
import numpy as np
import pytest

from ppkpt.metadata import KeypointMeta
from ppkpt.visualize import default_colors, draw_keypoints


def test_draws_21_joints_with_metadata_skeleton_and_colours() -> None:
    meta = KeypointMeta(num_joints=21, skeleton=[[i, i + 1] for i in range(20)])
    keypoints = np.zeros((1, 21, 3))
    keypoints[0, :, 0] = np.linspace(10, 90, 21)
    keypoints[0, :, 1] = 50
    keypoints[0, :, 2] = 1.0
    image = np.zeros((100, 100, 3), np.uint8)
    out = draw_keypoints(image, keypoints, meta.skeleton, 0.5, colors=meta.colors)
    assert image.sum() == 0  # the input is untouched
    assert out[50, 10:91].any(axis=1).all()  # joints and links cover the whole row
    assert out[10].sum() == 0
    np.testing.assert_array_equal(out[50, 90], meta.colors[20])


def test_threshold_hides_joints_and_their_links() -> None:
    keypoints = np.array([[[20, 20, 0.9], [80, 20, 0.1]]], dtype=float)
    out = draw_keypoints(np.zeros((40, 100, 3), np.uint8), keypoints, [[0, 1]], threshold=0.5)
    assert out[20, 20].any() and not out[20, 50].any() and not out[20, 80].any()


def test_boxes_ids_and_empty_input() -> None:
    keypoints = np.array([[[30, 30, 1.0]]])
    out = draw_keypoints(np.zeros((60, 60, 3), np.uint8), keypoints, [], track_ids=[7],
                         boxes=np.array([[10, 15, 50, 55]]))
    assert out[15, 10:51].any(axis=1).all()  # top edge of the box
    empty = draw_keypoints(np.ones((5, 5, 3), np.uint8), np.zeros((0, 17, 3)), [[0, 1]])
    assert (empty == 1).all()


def test_errors_name_the_bad_argument() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match=r'skeleton\[1\]'):
        draw_keypoints(image, np.ones((1, 3, 3)), [[0, 1], [2, 3]])
    with pytest.raises(ValueError, match='track_ids'):
        draw_keypoints(image, np.ones((2, 3, 3)), [], track_ids=[1])
    with pytest.raises(ValueError, match=r'\(P, K, 3\)'):
        draw_keypoints(image, np.ones((3, 2)), [])


def test_default_colors_are_distinct() -> None:
    colors = default_colors(30)
    assert colors.shape == (30, 3) and len({tuple(c) for c in colors}) == 30
