"""KeypointTopDownMPIIDataset on the real MPII fixture."""
import json
import os

import numpy as np
import pytest

from ppkpt.data.datasets.keypoint_mpii import KeypointTopDownMPIIDataset

MPII_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'mpii')


def load_entries():
    with open(os.path.join(MPII_DIR, 'test_mpii.json')) as f:
        return json.load(f)


def mpii(**kwargs):
    args = dict(dataset_dir=MPII_DIR, image_dir='', anno_path='test_mpii.json', num_joints=16)
    args.update(kwargs)
    return KeypointTopDownMPIIDataset(**args)


def test_records_are_zero_based_with_shifted_center():
    ds = mpii()
    entries = load_entries()
    assert len(ds) == len(entries) == 5
    sample = ds[0]
    entry = entries[0]
    assert sample['image'].ndim == 3 and sample['image'].dtype == np.uint8
    assert sample['im_id'] == 5808361
    np.testing.assert_allclose(sample['gt_joints'][:, :2], np.array(entry['joints']) - 1)
    assert np.all(sample['gt_joints'][:, 2] == 0)
    s = entry['scale']
    np.testing.assert_allclose(sample['center'],
                               [entry['center'][0] - 1, entry['center'][1] + 15 * s - 1],
                               rtol=1e-6)
    np.testing.assert_allclose(sample['scale'], [1.25 * s, 1.25 * s], rtol=1e-6)
    np.testing.assert_array_equal(sample['joints_vis'][:, 0], entry['joints_vis'])


def test_gt_joints_key_and_pixel_std(tmp_path):
    entries = load_entries()
    for entry in entries:
        entry['gt_joints'] = entry.pop('joints')
    (tmp_path / 'anno.json').write_text(json.dumps(entries))
    ds = mpii(dataset_dir=str(tmp_path), image_dir=MPII_DIR, anno_path='anno.json',
              pixel_std=100)
    record = ds.db[1]
    np.testing.assert_allclose(record['gt_joints'][:, :2], np.array(entries[1]['gt_joints']) - 1)
    np.testing.assert_allclose(record['scale'], [2.5 * entries[1]['scale']] * 2, rtol=1e-6)


def test_num_joints_mismatch_names_file_and_entry():
    with pytest.raises(ValueError,
                       match=r"test_mpii\.json entry 0 \(image '005808361\.jpg'\) has 16 "
                             r"keypoints but num_joints is 17"):
        len(mpii(num_joints=17))


def test_lazy_constructor(tmp_path):
    ds = mpii(dataset_dir=str(tmp_path), anno_path='absent.json')
    with pytest.raises(FileNotFoundError, match=r'absent\.json'):
        ds[0]


def test_missing_image_is_named(tmp_path):
    (tmp_path / 'anno.json').write_text(json.dumps(load_entries()))
    ds = mpii(dataset_dir=str(tmp_path), anno_path='anno.json')
    with pytest.raises(FileNotFoundError, match=r'image not found: .*005808361\.jpg'):
        ds.parse_dataset()
