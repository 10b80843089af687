"""KeypointTopDownMPIIDataset on the real MPII fixture."""
import json
import logging
import os
import shutil
from typing import AbstractSet, Dict, List, Tuple

import numpy as np
import pytest

from ppkpt.data.datasets.keypoint_mpii import KeypointTopDownMPIIDataset
from ppkpt.image_io import ImageReadError

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


def unlabelled_copy(tmp_path, labelled: AbstractSet[int] = frozenset()
                    ) -> Tuple[KeypointTopDownMPIIDataset, List[dict]]:
    """A dataset on the fixture's json without joints (as in MPII's test split), written to
    ``tmp_path``, and its entries; the entries whose index is in ``labelled`` keep theirs."""
    entries = load_entries()
    for i, entry in enumerate(entries):
        if i not in labelled:
            del entry['joints'], entry['joints_vis']
    (tmp_path / 'test.json').write_text(json.dumps(entries))
    return mpii(dataset_dir=str(tmp_path), image_dir=MPII_DIR, anno_path='test.json'), entries


def test_unlabelled_entries_load_for_prediction(tmp_path):
    ds, entries = unlabelled_copy(tmp_path)
    assert len(ds) == 5
    sample = ds[0]
    assert sample['image'].shape == (720, 1280, 3)
    np.testing.assert_array_equal(sample['gt_joints'], np.zeros((16, 3), np.float32))
    np.testing.assert_array_equal(sample['joints_vis'], np.zeros((16, 3), np.float32))
    s = entries[0]['scale']
    np.testing.assert_allclose(sample['center'],
                               [entries[0]['center'][0] - 1, entries[0]['center'][1] + 15 * s - 1],
                               rtol=1e-6)


def test_a_labelled_entry_among_unlabelled_ones_keeps_its_checks(tmp_path):
    ds, entries = unlabelled_copy(tmp_path, labelled={3})
    np.testing.assert_allclose(ds.db[3]['gt_joints'][:, :2], np.array(entries[3]['joints']) - 1)
    entries[3]['joints'] = entries[3]['joints'][:15]
    (tmp_path / 'test.json').write_text(json.dumps(entries))
    ds = mpii(dataset_dir=str(tmp_path), image_dir=MPII_DIR, anno_path='test.json')
    with pytest.raises(ValueError, match=r"test\.json entry 3 \(image '004645041\.jpg'\) has 15 "
                                         r"keypoints but num_joints is 16"):
        len(ds)


def copy_with_bad_images(tmp_path, bad: Dict[str, bytes]) -> str:
    """The fixture copied under ``tmp_path``, the images named in ``bad`` overwritten."""
    root = tmp_path / 'mpii'
    shutil.copytree(MPII_DIR, root)
    for name, data in bad.items():
        (root / name).write_bytes(data)
    return str(root)


def test_zero_byte_and_truncated_images_raise_naming_the_file(tmp_path):
    with open(os.path.join(MPII_DIR, '051423444.jpg'), 'rb') as f:
        truncated = f.read()[:-100]
    root = copy_with_bad_images(tmp_path, {'052475643.jpg': b'', '051423444.jpg': truncated})
    ds = mpii(dataset_dir=root)
    with pytest.raises(ImageReadError) as info:
        ds[1]
    assert info.value.path == os.path.join(root, '052475643.jpg')
    assert str(info.value).endswith('052475643.jpg: empty file (0 bytes)')
    with pytest.raises(ImageReadError, match=r'051423444\.jpg: truncated JPEG'):
        ds[2]
    assert ds.num_skipped == 0


def test_skip_bad_images_counts_and_warns_naming_each_file(tmp_path, caplog):
    root = copy_with_bad_images(tmp_path, {'052475643.jpg': b'', '051423444.jpg': b'\xff\xd8'})
    ds = mpii(dataset_dir=root, skip_bad_images=True)
    with caplog.at_level(logging.WARNING, logger='ppkpt.data.datasets.base'):
        assert ds[1]['im_id'] == 4645041               # samples 1 and 2 skipped
        assert ds[2]['im_id'] == 4645041
    assert ds.num_skipped == 3
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith(f'KeypointTopDownMPIIDataset: skipping unreadable image '
                                  f'{os.path.join(root, "052475643.jpg")} (sample 1): ')
    assert all('051423444.jpg (sample 2): ' in message for message in messages[1:])
