"""tools/dataset/merge_coco.py: COCO + AI Challenger, checked point by point."""
import json
import os

import pytest

from helpers import ROOT, run_tool

TOOL = 'tools/dataset/merge_coco.py'
MAPPING = 'tools/dataset/mappings/aic_to_coco.yml'
COCO_JSON = os.path.join(ROOT, 'tests/data/coco/test_coco.json')
AIC_JSON = os.path.join(ROOT, 'tests/data/aic/test_aic.json')
AIC_TO_COCO = {0: 6, 1: 8, 2: 10, 3: 5, 4: 7, 5: 9, 6: 12, 7: 14, 8: 16, 9: 11, 10: 13, 11: 15}


def load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture(scope='module')
def merged(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('merge') / 'merged.json')
    run_tool([TOOL, out, '--input', COCO_JSON, '--prefix', 'coco/',
              '--input', AIC_JSON, '--prefix', 'aic/', '--mapping', MAPPING])
    return load(out)


def test_aic_points_move_to_their_coco_index_with_v_3_minus_aic_v(merged):
    coco, aic = load(COCO_JSON), load(AIC_JSON)
    merged_aic = merged['annotations'][len(coco['annotations']):]
    assert len(merged_aic) == len(aic['annotations']) == 9
    for source, out in zip(aic['annotations'], merged_aic):
        src = [source['keypoints'][3 * i:3 * i + 3] for i in range(14)]
        dst = [out['keypoints'][3 * i:3 * i + 3] for i in range(17)]
        for aic_index, coco_index in AIC_TO_COCO.items():
            x, y, v = src[aic_index]
            assert dst[coco_index] == ([x, y, 3 - v] if v in (1, 2) else [0, 0, 0]), \
                (source['id'], aic_index)
        for face in range(5):                             # COCO points AIC does not have
            assert dst[face] == [0, 0, 0]
        labelled = [p for p in dst if p[2] > 0]
        assert out['num_keypoints'] == len(labelled)
        assert out['bbox'] == source['bbox'] and out['category_id'] == 1
    head_and_neck = {tuple(p) for a in aic['annotations'] for p in
                     (a['keypoints'][36:38], a['keypoints'][39:41]) if p != [0, 0]}
    merged_points = {tuple(a['keypoints'][3 * i:3 * i + 2]) for a in merged_aic for i in range(17)}
    assert head_and_neck and not head_and_neck & merged_points   # head top and neck dropped


def test_ids_are_renumbered_and_paths_prefixed(merged):
    coco, aic = load(COCO_JSON), load(AIC_JSON)
    assert [im['id'] for im in merged['images']] == list(range(1, 8))
    assert [a['id'] for a in merged['annotations']] == list(range(1, 24))
    expected = [f'coco/{im["file_name"]}' for im in coco['images']] + \
        [f'aic/{im["file_name"]}' for im in aic['images']]
    assert [im['file_name'] for im in merged['images']] == expected
    files = {im['id']: im['file_name'] for im in merged['images']}
    originals = {('coco/', im['id']): im['file_name'] for im in coco['images']}
    originals.update({('aic/', im['id']): im['file_name'] for im in aic['images']})
    sources = [('coco/', a) for a in coco['annotations']] + \
        [('aic/', a) for a in aic['annotations']]
    for (prefix, source), out in zip(sources, merged['annotations']):
        assert files[out['image_id']] == prefix + originals[(prefix, source['image_id'])]
    assert merged['categories'] == coco['categories'] and merged['info'] == coco['info']
    for i, (source, out) in enumerate(zip(coco['annotations'], merged['annotations'])):
        assert out == dict(source, id=i + 1, image_id=out['image_id'])   # COCO kept as it was


def test_aic_first_takes_the_coco17_category_of_the_mapping(tmp_path):
    out = tmp_path / 'aic_only.json'
    run_tool([TOOL, str(out), '--input', AIC_JSON, '--mapping', MAPPING])
    category, = load(out)['categories']
    assert category['name'] == 'person' and category['keypoints'][0] == 'nose'
    assert [15, 13] in [[a - 1, b - 1] for a, b in category['skeleton']]


def test_unmapped_aic_and_colliding_file_names_are_refused(tmp_path):
    out = str(tmp_path / 'bad.json')
    unmapped = run_tool([TOOL, out, '--input', COCO_JSON, '--input', AIC_JSON], check=False)
    assert unmapped.returncode == 1
    assert 'annotation id 4 has 14 keypoints but num_joints is 17' in unmapped.stderr
    twice = run_tool([TOOL, out, '--input', COCO_JSON, '--input', COCO_JSON], check=False)
    assert twice.returncode == 1 and "file_name '000000000785.jpg'" in twice.stderr
    assert 'different --prefix' in twice.stderr and not os.path.exists(out)
