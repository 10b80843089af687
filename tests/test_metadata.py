"""KeypointMeta presets, custom sets, flip pairs from names, COCO categories (the AP-10K
fixture), validation messages and round trips."""
import json
import logging
import os

import numpy as np
import pytest

from ppkpt.metadata import (COCO17_FLIP_PAIRS, COCO17_NAMES, COCO17_SIGMAS, DEFAULT_SIGMA,
                            PRESETS, KeypointMeta, derive_flip_pairs, fill_config)

AP10K_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'ap10k',
                          'test_ap10k.json')
AP10K_NAMES = [
    'left_eye', 'right_eye', 'nose', 'neck', 'root_of_tail', 'left_shoulder', 'left_elbow',
    'left_front_paw', 'right_shoulder', 'right_elbow', 'right_front_paw', 'left_hip',
    'left_knee', 'left_back_paw', 'right_hip', 'right_knee', 'right_back_paw']
AP10K_FLIP_PAIRS = [[0, 1], [5, 8], [6, 9], [7, 10], [11, 14], [12, 15], [13, 16]]


def ap10k_categories():
    with open(AP10K_JSON) as f:
        return json.load(f)['categories']


def test_coco17_preset():
    meta = KeypointMeta(17, 'coco17').validate()
    assert meta.names[0] == 'nose' and meta.names[16] == 'right_ankle'
    assert meta.upper_body_ids == list(range(11))
    assert len(meta.skeleton) == 19
    np.testing.assert_allclose(meta.oks_sigmas()[[0, 5, 11]], [0.026, 0.079, 0.107])
    flip = meta.flip_index
    assert flip.tolist() == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert sorted(flip.tolist()) == list(range(17))


def test_mpii16_preset_has_no_sigmas():
    meta = KeypointMeta(16, preset='mpii16').validate()
    assert meta.flip_pairs == [[0, 5], [1, 4], [2, 3], [10, 15], [11, 14], [12, 13]]
    assert meta.upper_body_ids == list(range(7, 16))
    assert meta.sigmas is None
    assert meta.flip_index[10] == 15 and meta.flip_index[6] == 6
    with pytest.raises(ValueError, match=r'no OKS sigmas for num_joints=16 \(MPII-16\)'):
        meta.oks_sigmas()


@pytest.mark.parametrize('num_joints', [5, 12, 21])
def test_custom_defaults(num_joints):
    meta = KeypointMeta.from_config({'num_joints': num_joints})
    assert meta.names == [f'kp{i}' for i in range(num_joints)]
    assert meta.flip_pairs == [] and meta.skeleton == [] and meta.upper_body_ids == []
    np.testing.assert_allclose(meta.oks_sigmas(), [DEFAULT_SIGMA] * num_joints)
    assert meta.flip_index.tolist() == list(range(num_joints))
    assert len(meta.colors) == num_joints and len({tuple(c) for c in meta.colors}) == num_joints


def test_from_config_reads_top_level_keys():
    cfg = {'num_joints': 5, 'keypoint_names': ['a', 'b', 'c', 'd', 'e'],
           'flip_perm': [[0, 1], [2, 3]], 'upper_body_ids': [0, 1, 2],
           'sigmas': [0.1, 0.2, 0.3, 0.4, 0.5], 'skeleton': [[0, 4], [1, 4]],
           'architecture': 'ignored'}
    meta = KeypointMeta.from_config(cfg)
    assert meta.names[2] == 'c'
    assert meta.flip_index.tolist() == [1, 0, 3, 2, 4]
    assert meta.sigmas == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert meta.skeleton == [[0, 4], [1, 4]]


def test_partial_override_keeps_other_preset_fields():
    meta = KeypointMeta.from_config({'num_joints': 17, 'keypoint_preset': 'coco17',
                                     'skeleton': [[0, 1]]})
    assert meta.skeleton == [[0, 1]]
    assert meta.sigmas == COCO17_SIGMAS


@pytest.mark.parametrize('num_joints, preset', [(17, 'coco17'), (16, 'mpii16'), (17, 'ap10k17'),
                                                (12, None)])
def test_dict_round_trip(num_joints, preset):
    meta = KeypointMeta(num_joints, preset)
    data = meta.to_dict()
    assert data['keypoint_preset'] == preset
    again = KeypointMeta.from_dict(data)
    assert again.to_dict() == data


def test_per_joint_score_thresholds_from_config_or_one_default():
    meta = KeypointMeta.from_config({'num_joints': 3, 'keypoint_score_thresholds': [0.2, 0.5, 0.9]})
    assert meta.joint_thresholds(0.4) == [0.2, 0.5, 0.9]
    assert KeypointMeta.from_dict(meta.to_dict()).score_thresholds == [0.2, 0.5, 0.9]
    assert KeypointMeta(3).joint_thresholds(0.4) == [0.4, 0.4, 0.4]


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(KeyError, match='flip_pairs'):
        KeypointMeta.from_dict({'num_joints': 5, 'flip_pairs': []})


def test_from_config_needs_num_joints():
    with pytest.raises(KeyError, match='num_joints'):
        KeypointMeta.from_config({'sigmas': [0.1]})


@pytest.mark.parametrize('kwargs, message', [
    ({'flip_pairs': [[1, 2], [3, 4], [5, 6], [5, 17]]},
     r'flip_perm pair 3 \[5, 17\] is out of range for num_joints=17'),
    ({'flip_pairs': [[1, 2], [3, 4], [5, 6], [7, 8], [5, 9]]},
     r'joint 5 appears in flip_perm pairs 2 and 4'),
    ({'flip_pairs': [[3, 3]]}, r'flip_perm pair 0 \[3, 3\] pairs joint 3 with itself'),
    ({'sigmas': [0.05] * 15}, r'sigmas has 15 values but num_joints is 17'),
    ({'sigmas': [0.05] * 16 + [0.0]}, r'sigmas\[16\] = 0.0 must be positive'),
    ({'skeleton': [[0, 1], [2, 17]]},
     r'skeleton link 1 \[2, 17\] is out of range for num_joints=17'),
    ({'upper_body_ids': [0, 20]}, r'upper_body_ids entry 1 \(20\) is out of range'),
    ({'names': ['a'] * 3}, r'keypoint_names has 3 names but num_joints is 17'),
    ({'score_thresholds': [0.3] * 16}, r'keypoint_score_thresholds has 16 values'),
    ({'score_thresholds': [0.3] * 16 + [1.5]}, r'keypoint_score_thresholds\[16\] = 1.5'),
])
def test_validation_errors_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KeypointMeta(17, 'coco17', **kwargs).validate()


def test_flip_index_rejects_bad_pairs():
    with pytest.raises(ValueError, match='out of range'):
        _ = KeypointMeta(5, flip_pairs=[[0, 5]]).flip_index


def test_bad_num_joints():
    with pytest.raises(ValueError, match='num_joints must be a positive integer'):
        KeypointMeta(0)


# ---------------------------------------------------------------------- named presets

@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_every_preset_builds_and_validates(preset):
    num_joints = len(PRESETS[preset]['names'])
    meta = KeypointMeta(num_joints, preset).validate()
    assert meta.preset == preset and meta.title == PRESETS[preset]['title']
    assert len(meta.names) == num_joints and len(set(meta.names)) == num_joints
    assert sorted(meta.flip_index.tolist()) == list(range(num_joints))
    assert meta.skeleton and all(0 <= j < num_joints for link in meta.skeleton for j in link)
    if preset == 'mpii16':
        assert meta.sigmas is None
    else:
        assert meta.oks_sigmas().shape == (num_joints,)


@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_preset_flip_pairs_match_its_names(preset):
    """Every preset's flip permutation is the one its left/right names imply."""
    meta = KeypointMeta(len(PRESETS[preset]['names']), preset)
    derived = KeypointMeta(meta.num_joints, names=meta.names)
    assert derived.flip_index.tolist() == meta.flip_index.tolist()


@pytest.mark.parametrize('preset, index, sigma', [
    ('crowdpose14', 12, 0.079), ('aic14', 6, 0.03909642), ('hand21', 4, 0.047),
    ('ap10k17', 2, 0.026)])
def test_published_sigmas(preset, index, sigma):
    meta = KeypointMeta(len(PRESETS[preset]['names']), preset)
    assert meta.oks_sigmas()[index] == pytest.approx(sigma)


def test_k17_without_a_preset_is_not_coco(caplog):
    with caplog.at_level(logging.WARNING, logger='ppkpt.metadata'):
        meta = KeypointMeta.from_config({'num_joints': 17})
    assert meta.preset is None and meta.title == 'custom'
    assert meta.names == [f'kp{i}' for i in range(17)]
    assert meta.flip_pairs == [] and meta.skeleton == [] and meta.upper_body_ids == []
    assert meta.sigmas == [DEFAULT_SIGMA] * 17
    assert 'no keypoint_preset and no keypoint_names' in caplog.text


def test_preset_and_num_joints_must_agree():
    with pytest.raises(ValueError, match=r"keypoint_preset 'coco17' \(COCO-17\) has 17 joints "
                                         r"but num_joints is 16"):
        KeypointMeta(16, 'coco17')


@pytest.mark.parametrize('name, suggestion', [('coco', 'coco17'), ('ap10k', 'ap10k17'),
                                              ('MPII16', 'mpii16')])
def test_unknown_preset_lists_known_names_and_suggests(name, suggestion):
    with pytest.raises(ValueError) as info:
        KeypointMeta.from_config({'num_joints': 17, 'keypoint_preset': name})
    message = str(info.value)
    assert f'unknown keypoint_preset {name!r}' in message
    assert 'aic14, ap10k17, coco17, crowdpose14, hand21, mpii16' in message
    assert message.endswith(f'did you mean {suggestion!r}?')


def test_unknown_preset_without_a_near_name():
    with pytest.raises(ValueError, match=r"unknown keypoint_preset 'zzz': the known presets are "
                                         r"[a-z0-9, ]+$"):
        KeypointMeta(17, 'zzz')


# ---------------------------------------------------------------------- flip pairs from names

def test_derive_flip_pairs_on_coco_names_is_coco():
    assert derive_flip_pairs(COCO17_NAMES) == COCO17_FLIP_PAIRS


def test_derive_flip_pairs_on_ap10k_names():
    assert derive_flip_pairs(AP10K_NAMES) == AP10K_FLIP_PAIRS


@pytest.mark.parametrize('names, pairs', [
    (['nose', 'L_Eye', 'R_Eye'], [[1, 2]]),
    (['eye_r', 'eye_l', 'mouth'], [[1, 0]]),
    (['rightHand', 'head', 'leftHand'], [[2, 0]]),
    (['Right Shoulder', 'Left Shoulder', 'LEFT_KNEE', 'right_knee'], [[1, 0], [2, 3]]),
    (['left_F_paw', 'right_B_paw'], []),
    (['left_eye', 'left_eye_right'], []),
    (['wrist', 'thumb1', 'ring_finger1', 'root_of_tail'], []),
])
def test_derive_flip_pairs_patterns(names, pairs):
    assert derive_flip_pairs(names) == pairs


def test_derive_flip_pairs_rejects_non_strings():
    with pytest.raises(ValueError, match=r'keypoint_names\[1\] must be a string, got 3'):
        derive_flip_pairs(['a', 3])


def test_explicit_names_derive_flip_pairs_and_log_them(caplog):
    with caplog.at_level(logging.INFO, logger='ppkpt.metadata'):
        meta = KeypointMeta.from_config({'num_joints': 3,
                                         'keypoint_names': ['head', 'L_hand', 'R_hand']})
    assert meta.flip_pairs == [[1, 2]]
    assert 'flip_perm derived from keypoint_names: [[1, 2]] (L_hand<->R_hand)' in caplog.text


def test_explicit_flip_perm_beats_derivation():
    meta = KeypointMeta(3, names=['head', 'L_hand', 'R_hand'], flip_pairs=[])
    assert meta.flip_pairs == []


# ---------------------------------------------------------------------- COCO categories

def test_ap10k_category_gives_ap10k_metadata_not_coco():
    category = ap10k_categories()[0]
    meta = KeypointMeta.from_coco_categories(category)
    assert meta.num_joints == 17 and meta.preset is None
    assert meta.names == AP10K_NAMES and meta.names != COCO17_NAMES
    assert meta.flip_pairs == AP10K_FLIP_PAIRS and meta.flip_pairs != COCO17_FLIP_PAIRS
    assert meta.skeleton == [[a - 1, b - 1] for a, b in category['skeleton']]
    assert meta.skeleton[:4] == [[0, 1], [0, 2], [1, 2], [2, 3]]


def test_ap10k17_preset_agrees_with_the_fixture():
    preset = KeypointMeta(17, 'ap10k17')
    for category in ap10k_categories():
        from_data = KeypointMeta.from_coco_categories(category)
        assert preset.names == from_data.names, category['name']
        assert preset.skeleton == from_data.skeleton, category['name']
        assert preset.flip_pairs == from_data.flip_pairs, category['name']


def test_category_joint_count_must_match():
    with pytest.raises(ValueError, match=r"dataset category 'antelope' has 17 keypoints but "
                                         r"num_joints is 16"):
        KeypointMeta.from_coco_categories(ap10k_categories()[0], num_joints=16)


def test_category_skeleton_must_be_one_based():
    category = {'name': 'pen', 'keypoints': ['tip', 'end'], 'skeleton': [[1, 2], [0, 1]]}
    with pytest.raises(ValueError, match=r"dataset category 'pen' skeleton link 1 \[0, 1\] is "
                                         r"not 1-based"):
        KeypointMeta.from_coco_categories(category)


def test_category_needs_keypoints():
    with pytest.raises(KeyError, match=r"dataset category 'pen' has no `keypoints`"):
        KeypointMeta.from_coco_categories({'name': 'pen'})


def test_from_config_precedence_config_then_preset_then_category():
    category = ap10k_categories()[0]
    from_data = KeypointMeta.from_config({'num_joints': 17}, category)
    assert from_data.names == AP10K_NAMES and from_data.flip_pairs == AP10K_FLIP_PAIRS
    assert from_data.sigmas == [DEFAULT_SIGMA] * 17
    preset = KeypointMeta.from_config({'num_joints': 17, 'keypoint_preset': 'ap10k17'}, category)
    assert preset.sigmas == PRESETS['ap10k17']['sigmas'] and preset.names == AP10K_NAMES
    explicit = KeypointMeta.from_config({'num_joints': 17, 'keypoint_preset': 'ap10k17',
                                         'skeleton': [[0, 1]], 'flip_perm': []}, category)
    assert explicit.skeleton == [[0, 1]] and explicit.flip_pairs == []
    assert explicit.upper_body_ids == PRESETS['ap10k17']['upper_body_ids']


def test_preset_for_another_dataset_warns(caplog):
    with caplog.at_level(logging.WARNING, logger='ppkpt.metadata'):
        meta = KeypointMeta.from_config({'num_joints': 17, 'keypoint_preset': 'coco17'},
                                        ap10k_categories()[0])
    assert meta.names == COCO17_NAMES
    assert "disagree with dataset category 'antelope': joint 0 is 'nose'" in caplog.text


def test_overrides_of_from_coco_categories():
    meta = KeypointMeta.from_coco_categories(ap10k_categories()[0], sigmas=[0.05] * 17)
    assert meta.sigmas == [0.05] * 17 and meta.names == AP10K_NAMES


# ---------------------------------------------------------------------- fill_config

def test_fill_config_writes_missing_keys_only():
    cfg = {'num_joints': 17, 'keypoint_preset': 'coco17', 'sigmas': [0.05] * 17}
    assert fill_config(cfg) is cfg
    assert cfg['keypoint_names'] == COCO17_NAMES and cfg['flip_perm'] == COCO17_FLIP_PAIRS
    assert cfg['sigmas'] == [0.05] * 17
    assert 'keypoint_score_thresholds' not in cfg


def test_fill_config_from_the_dataset_category():
    cfg = fill_config({'num_joints': 17}, ap10k_categories()[0])
    assert cfg['keypoint_names'] == AP10K_NAMES and cfg['flip_perm'] == AP10K_FLIP_PAIRS
    assert 'keypoint_preset' not in cfg


def test_fill_config_leaves_detector_configs_alone():
    cfg = {'architecture': 'YOLOv3'}
    assert fill_config(cfg) == {'architecture': 'YOLOv3'}
