"""tools/dataset/split_coco.py on the COCO fixture."""
import json
import os

from helpers import ROOT, run_tool

TOOL = 'tools/dataset/split_coco.py'
COCO_JSON = os.path.join(ROOT, 'tests/data/coco/test_coco.json')


def split(tmp_path, *extra, source=COCO_JSON, name='s'):
    train, val = str(tmp_path / f'{name}_train.json'), str(tmp_path / f'{name}_val.json')
    run_tool([TOOL, source, train, val, *extra])
    with open(train, 'rb') as f_train, open(val, 'rb') as f_val:
        return f_train.read(), f_val.read()


def test_split_partitions_images_and_keeps_categories_and_licences(tmp_path):
    with open(COCO_JSON, encoding='utf-8') as f:
        original = json.load(f)
    train, val = (json.loads(b) for b in split(tmp_path, '--ratio', '0.5', '--seed', '0'))
    train_ids = [im['id'] for im in train['images']]
    val_ids = [im['id'] for im in val['images']]
    assert train_ids == [785, 196141] and val_ids == [40083, 197388]   # seed 0, file order
    for part, ids in ((train, train_ids), (val, val_ids)):
        assert part['categories'] == original['categories']
        assert part['licenses'] == original['licenses'] and part['info'] == original['info']
        assert part['annotations'] == [a for a in original['annotations']
                                       if a['image_id'] in ids]


def test_same_seed_same_bytes_other_seed_other_split(tmp_path):
    first = split(tmp_path, '--ratio', '0.5', '--seed', '3', name='a')
    assert split(tmp_path, '--ratio', '0.5', '--seed', '3', name='b') == first
    other = json.loads(split(tmp_path, '--ratio', '0.5', '--seed', '2', name='c')[0])
    assert [im['id'] for im in other['images']] == [40083, 196141]


def test_having_annotations_leaves_out_negative_images(tmp_path):
    with open(COCO_JSON, encoding='utf-8') as f:
        data = json.load(f)
    data['images'] += [{'id': 9, 'file_name': 'empty_a.jpg'},
                       {'id': 10, 'file_name': 'empty_b.jpg'}]
    source = tmp_path / 'with_negatives.json'
    source.write_text(json.dumps(data))
    kept = [json.loads(b) for b in split(tmp_path, '--ratio', '0.5', '--having-annotations',
                                         source=str(source))]
    assert sorted(im['id'] for part in kept for im in part['images']) == \
        [785, 40083, 196141, 197388]
    everything = [json.loads(b) for b in split(tmp_path, '--ratio', '0.5', source=str(source),
                                               name='all')]
    assert sum(len(part['images']) for part in everything) == 6


def test_a_ratio_outside_0_1_is_refused(tmp_path):
    result = run_tool([TOOL, COCO_JSON, str(tmp_path / 'a.json'), str(tmp_path / 'b.json'),
                       '--ratio', '1.0'], check=False)
    assert result.returncode == 2 and '--ratio must be between 0 and 1' in result.stderr
