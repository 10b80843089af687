"""KeypointBottomUpCocoDataset / KeypointBottomUpCrowdPoseDataset on the COCO and CrowdPose
fixtures and on small json files made from them."""
import contextlib
import io
import json
import os

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

import ppkpt.data.datasets.keypoint_bottomup as bottomup
from ppkpt.codecs import AssociativeEmbeddingCodec
from ppkpt.core.workspace import LazyObject, build_object, build_ops
from ppkpt.data.datasets import KeypointBottomUpCocoDataset, KeypointBottomUpCrowdPoseDataset
from ppkpt.data.transforms.preprocess import EvalAffine, NormalizeImage, Permute
from ppkpt.data.transforms.topdown import GenerateTarget
from ppkpt.metadata import COCO17_FLIP_PAIRS

DATA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_DIR = os.path.join(DATA, 'coco')
CROWDPOSE_DIR = os.path.join(DATA, 'crowdpose')
COCO_JSON = os.path.join(COCO_DIR, 'test_coco.json')
K = 17


def coco_dataset(**kwargs):
    args = dict(dataset_dir=COCO_DIR, image_dir='', anno_path='test_coco.json', num_joints=K)
    args.update(kwargs)
    return KeypointBottomUpCocoDataset(**args)


def fixture_json():
    with open(COCO_JSON, encoding='utf-8') as f:
        return json.load(f)


def write_json(tmp_path, data):
    (tmp_path / 'anno.json').write_text(json.dumps(data))
    return KeypointBottomUpCocoDataset(str(tmp_path), COCO_DIR, 'anno.json', K)


def test_one_sample_per_image_with_its_people():
    data = fixture_json()
    ds = coco_dataset()
    assert len(ds) == 4
    for idx, image in enumerate(data['images']):
        sample = ds[idx]
        people = [a for a in data['annotations']
                  if a['image_id'] == image['id'] and a['num_keypoints'] > 0]
        assert sample['im_id'] == image['id']
        assert sample['image_file'] == os.path.join(COCO_DIR, image['file_name'])
        assert sample['image'].shape == (image['height'], image['width'], 3)
        assert sample['image'].dtype == np.uint8
        np.testing.assert_array_equal(sample['im_shape'], [image['height'], image['width']])
        assert sample['im_shape'].dtype == np.float32
        assert sample['gt_joints'].shape == (len(people), K, 3)
        assert sample['gt_joints'].dtype == np.float32
        np.testing.assert_array_equal(
            sample['gt_joints'], np.reshape([a['keypoints'] for a in people], (-1, K, 3)))
        assert sample['mask'].shape == (image['height'], image['width'])
        assert sample['mask'].dtype == np.float32
    assert [len(ds[i]['gt_joints']) for i in range(4)] == [1, 2, 4, 5]


def test_people_without_keypoints_are_masked_by_their_segmentation():
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(COCO_JSON)
    ds = coco_dataset()
    for idx, ann_id in ((1, 1202706), (2, 508900)):  # the two num_keypoints == 0 people
        sample = ds[idx]
        ann = coco.loadAnns(ann_id)[0]
        assert ann['image_id'] == sample['im_id'] and ann['num_keypoints'] == 0
        np.testing.assert_array_equal(sample['mask'], 1.0 - coco.annToMask(ann))
        assert 0 < (sample['mask'] == 0).sum() < 0.01 * sample['mask'].size
    assert ds[0]['mask'].all()  # image 785: one person, nothing to ignore


def uncompressed_rle(binary):
    """COCO's uncompressed RLE of an (H, W) 0/1 array: column-major runs, zeros first."""
    flat = np.asarray(binary, dtype=np.uint8).flatten(order='F')
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], edges])).tolist()
    return {'size': list(binary.shape), 'counts': counts}


def rectangle(height, width, x1, y1, x2, y2):
    binary = np.zeros((height, width), dtype=np.uint8)
    binary[y1:y2, x1:x2] = 1
    return binary


def crowd_ann(ann_id, segmentation, bbox):
    return {'id': ann_id, 'image_id': 785, 'category_id': 1, 'iscrowd': 1, 'num_keypoints': 0,
            'keypoints': [0] * (3 * K), 'segmentation': segmentation, 'bbox': bbox,
            'area': bbox[2] * bbox[3]}


def test_crowd_regions_are_masked_out_whatever_their_encoding(tmp_path):
    data = fixture_json()
    height, width = 425, 640
    compressed_box = rectangle(height, width, 10, 20, 60, 70)
    uncompressed_box = rectangle(height, width, 500, 300, 600, 400)
    compressed = mask_utils.encode(np.asfortranarray(compressed_box))
    compressed['counts'] = compressed['counts'].decode('ascii')
    crowds = [crowd_ann(1, compressed, [10, 20, 50, 50]),
              crowd_ann(2, uncompressed_rle(uncompressed_box), [500, 300, 100, 100]),
              crowd_ann(3, [[200, 10, 260, 10, 260, 40, 200, 40]], [200, 10, 60, 30])]
    data['images'] = [im for im in data['images'] if im['id'] == 785]
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] == 785] + crowds
    sample = write_json(tmp_path, data)[0]
    assert sample['gt_joints'].shape == (1, K, 3)  # crowd regions are not people
    polygon = mask_utils.decode(mask_utils.frPyObjects(crowds[2]['segmentation'],
                                                       height, width)).max(axis=2)
    expected = 1.0 - np.maximum.reduce([compressed_box, uncompressed_box, polygon])
    np.testing.assert_array_equal(sample['mask'], expected)
    assert not sample['mask'][20:70, 10:60].any() and not sample['mask'][300:400, 500:600].any()


def test_an_rle_of_another_size_is_reported(tmp_path):
    data = fixture_json()
    data['annotations'].append(crowd_ann(7, uncompressed_rle(rectangle(40, 30, 0, 0, 5, 5)),
                                         [0, 0, 5, 5]))
    ds = write_json(tmp_path, data)
    with pytest.raises(ValueError, match=r'000000000785.jpg .*annotation 7: RLE size \[40, 30\] '
                                         r'differs from the image size \[425, 640\]'):
        ds[0]


def images_without_people(tmp_path, **kwargs):
    """785 (one person), 40083 with only its num_keypoints == 0 person, 196141 with nothing."""
    data = fixture_json()
    data['annotations'] = [a for a in data['annotations']
                           if a['image_id'] == 785 or a['id'] == 1202706]
    (tmp_path / 'anno.json').write_text(json.dumps(data))
    return KeypointBottomUpCocoDataset(str(tmp_path), COCO_DIR, 'anno.json', K, **kwargs)


def test_images_without_keypoints_are_dropped_by_default(tmp_path):
    ds = images_without_people(tmp_path)
    assert [record['im_id'] for record in ds.db] == [785]


def test_images_without_keypoints_can_be_kept_with_zero_targets(tmp_path):
    codec = AssociativeEmbeddingCodec(input_size=[128, 128])
    ds = images_without_people(tmp_path, drop_images_without_keypoints=False)
    assert [record['im_id'] for record in ds.db] == [785, 40083, 196141, 197388]
    unlabelled = ds[1]
    assert unlabelled['gt_joints'].shape == (0, K, 3)
    assert 0 < (unlabelled['mask'] == 0).sum() < 1000  # its person without keypoints
    assert ds[2]['mask'].all()  # no annotation at all
    targets = GenerateTarget(codec)(unlabelled)
    assert not targets['heatmap_gt1x'].any() and not targets['tagmap'].any()


def test_test_mode_keeps_every_image_and_carries_no_targets(tmp_path):
    ds = images_without_people(tmp_path, test_mode=True, transform=[EvalAffine(512)])
    assert len(ds) == 4
    sample = ds[1]
    assert set(sample) == {'image', 'image_file', 'im_id', 'im_shape', 'affine'}
    assert sample['image'].shape == (512, 832, 3)  # 500 x 333: 768.8 -> 13 * 64
    np.testing.assert_array_equal(sample['im_shape'], [333, 500])


def test_the_datasets_build_from_a_config_with_the_shared_num_joints():
    cfg = {'num_joints': 14}
    ds = build_object(LazyObject('KeypointBottomUpCrowdPoseDataset',
                                 {'dataset_dir': CROWDPOSE_DIR, 'image_dir': '',
                                  'anno_path': 'test_crowdpose.json'}), 'TrainDataset', cfg)
    assert isinstance(ds, KeypointBottomUpCrowdPoseDataset) and ds.num_joints == 14
    coco = build_object(LazyObject('KeypointBottomUpCocoDataset',
                                   {'dataset_dir': COCO_DIR, 'image_dir': '',
                                    'anno_path': 'test_coco.json', 'shard': [0, 2]}),
                        'TrainDataset', {'num_joints': K})
    assert len(coco) == 2 and coco.num_joints == K


def test_return_mask_false_gives_no_mask():
    sample = coco_dataset(return_mask=False)[1]
    assert 'mask' not in sample and sample['gt_joints'].shape == (2, K, 3)


def test_crowdpose_loads_14_joints_and_masks_unlabelled_people_by_their_box():
    ds = KeypointBottomUpCrowdPoseDataset(CROWDPOSE_DIR, '', 'test_crowdpose.json')
    assert ds.num_joints == 14 and len(ds) == 2
    first, second = ds[0], ds[1]
    assert (first['im_id'], second['im_id']) == (106848, 103319)
    assert first['gt_joints'].shape == (2, 14, 3) and second['gt_joints'].shape == (2, 14, 3)
    # person 131039 has no keypoints and no segmentation: box [108.5, 96.78, 35.46, 30.23]
    expected = np.ones((425, 640), dtype=np.float32)
    expected[96:128, 108:144] = 0.0
    np.testing.assert_array_equal(first['mask'], expected)
    assert second['mask'].all()
    with pytest.raises(ValueError, match='has 14 keypoints but num_joints is 17'):
        len(KeypointBottomUpCrowdPoseDataset(CROWDPOSE_DIR, '', 'test_crowdpose.json', 17))


def test_parsing_is_lazy_and_masks_are_made_per_sample(monkeypatch):
    missing = coco_dataset(anno_path='missing.json')
    with pytest.raises(FileNotFoundError, match='missing.json'):
        len(missing)
    calls = []
    real = bottomup.ignore_mask
    monkeypatch.setattr(bottomup, 'ignore_mask', lambda *args: calls.append(args) or real(*args))
    ds = coco_dataset()
    assert len(ds) == 4 and not calls
    assert all(set(record) == {'image_file', 'im_id', 'gt_joints'} for record in ds.db)
    ds[2]
    ds[2]
    assert len(calls) == 2


def test_shards_split_the_images_into_equal_blocks():
    ids = [record['im_id'] for record in coco_dataset().db]
    assert [r['im_id'] for r in coco_dataset(shard=[1, 2]).db] == ids[2:]
    assert [r['im_id'] for r in coco_dataset(shard=[2, 3]).db] == ids[2:3]
    with pytest.raises(ValueError, match=r'shard must be \[rank, size\]'):
        coco_dataset(shard=[2, 2])


def test_a_missing_image_is_reported_when_parsing(tmp_path):
    data = fixture_json()
    data['images'][0]['file_name'] = 'gone.jpg'
    with pytest.raises(FileNotFoundError, match=r'gone.jpg \(referenced by image id 785'):
        len(write_json(tmp_path, data))


def test_train_and_eval_pipelines_on_the_fixture():
    cfg = {'trainsize': [256, 256], 'flip_perm': COCO17_FLIP_PAIRS,
           'codec': LazyObject('AssociativeEmbeddingCodec', {})}
    ops = build_ops([{'RandomAffine': {}}, {'KeyPointFlip': {}}, {'GenerateTarget': {}},
                     {'NormalizePermute': {}}], 'TrainReader.sample_transforms', cfg)
    np.random.seed(0)
    train = coco_dataset(transform=ops)
    samples = [train[i] for i in range(len(train))]
    shapes = {'image': (3, 256, 256), 'heatmap_gt1x': (K, 64, 64), 'heatmap_gt2x': (K, 128, 128),
              'mask_1x': (64, 64), 'mask_2x': (128, 128), 'tagmap': (30, K, 2)}
    for key, shape in shapes.items():
        assert np.stack([sample[key] for sample in samples]).shape == (4,) + shape, key
    assert all(sample['tagmap'][..., 1].sum() > 0 for sample in samples)
    evaluation = coco_dataset(test_mode=True, transform=[EvalAffine(512), NormalizeImage(),
                                                         Permute()])
    sample = evaluation[0]
    assert sample['image'].shape == (3, 512, 832) and sample['affine'].shape == (2, 3)
