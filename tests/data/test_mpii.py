"""ppkpt.data.mpii on the real MPII fixture."""
import json
import os

import numpy as np
import pytest

from ppkpt.data.mpii import (MPII_PIXEL_STD, load_mpii_entries, mpii_image_id, mpii_is_labelled,
                             mpii_joints, mpii_joints_vis, parse_mpii_entry)

MPII_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mpii', 'test_mpii.json')


@pytest.fixture
def entries():
    """A fresh copy of the fixture's entries."""
    return load_mpii_entries(MPII_JSON, 'test')


def test_entry_becomes_zero_based_with_shifted_center(entries):
    entry = entries[0]
    person = parse_mpii_entry(entry, 0, 16, MPII_JSON)
    assert person.image == '005808361.jpg' and person.im_id == 5808361
    s = entry['scale']
    np.testing.assert_allclose(person.center, [entry['center'][0] - 1,
                                               entry['center'][1] + 15 * s - 1], rtol=1e-6)
    assert person.size_px == pytest.approx(1.25 * s * MPII_PIXEL_STD)
    np.testing.assert_allclose(person.joints, np.array(entry['joints']) - 1)
    assert person.joints.shape == (16, 2) and person.joints.dtype == np.float32
    np.testing.assert_array_equal(person.joints_vis, entry['joints_vis'])


def test_unknown_center_is_not_shifted(entries):
    entry = dict(entries[0], center=[-1, 50])
    person = parse_mpii_entry(entry, 0, 16, MPII_JSON)
    np.testing.assert_allclose(person.center, [-2, 49])
    assert person.size_px == pytest.approx(entry['scale'] * MPII_PIXEL_STD)


def test_missing_key_and_wrong_counts_name_the_entry(entries):
    entry = dict(entries[2])
    del entry['scale']
    with pytest.raises(KeyError, match=r'test_mpii\.json entry 2 has no `scale`'):
        parse_mpii_entry(entry, 2, 16, MPII_JSON)
    entry = dict(entries[1], joints_vis=[1] * 15)
    with pytest.raises(ValueError, match=r"test_mpii\.json entry 1 \(image '.*\.jpg'\) has 15 "
                                         r'joints_vis values but num_joints is 16'):
        parse_mpii_entry(entry, 1, 16, MPII_JSON)
    assert mpii_joints_vis({}, 0, 3, MPII_JSON).tolist() == [1.0, 1.0, 1.0]


def test_image_id_falls_back_to_the_index():
    assert mpii_image_id({'image_id': 7, 'image': '1.jpg'}, 0) == 7
    assert mpii_image_id({'image': 'dir/000123.jpg'}, 0) == 123
    assert mpii_image_id({'image': 'frame_a.jpg'}, 4) == 4


def test_a_json_that_is_not_a_list_is_refused(tmp_path):
    path = tmp_path / 'anno.json'
    path.write_text(json.dumps({'image': 'a.jpg'}))
    with pytest.raises(ValueError, match=r'Owner: .*anno\.json must be a json list'):
        load_mpii_entries(str(path), 'Owner')


def test_an_unlabelled_entry_parses_with_zero_joints_and_visibility(entries):
    entry = {key: entries[0][key] for key in ('image', 'center', 'scale')}   # MPII test split
    assert not mpii_is_labelled(entry) and mpii_is_labelled(entries[0])
    person = parse_mpii_entry(entry, 0, 16, MPII_JSON)
    labelled = parse_mpii_entry(entries[0], 0, 16, MPII_JSON)
    np.testing.assert_array_equal(person.joints, np.zeros((16, 2), np.float32))
    np.testing.assert_array_equal(person.joints_vis, np.zeros(16, np.float32))
    np.testing.assert_array_equal(person.center, labelled.center)
    assert (person.image, person.im_id, person.size_px) == (labelled.image, labelled.im_id,
                                                            labelled.size_px)
    with pytest.raises(KeyError, match=r'test_mpii\.json entry 0 .* has neither `joints`'):
        mpii_joints(entry, 0, 16, MPII_JSON)                # the PCKh metric needs labels


def test_a_labelled_entry_with_a_wrong_joint_count_still_fails(entries):
    entry = dict(entries[4], joints=entries[4]['joints'][:15])
    with pytest.raises(ValueError, match=r"test_mpii\.json entry 4 \(image '060754485\.jpg'\) "
                                         r'has 15 keypoints but num_joints is 16'):
        parse_mpii_entry(entry, 4, 16, MPII_JSON)
