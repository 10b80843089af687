"""KeypointMeta presets, custom sets, validation messages and round trips."""
import numpy as np
import pytest

from ppkpt.metadata import COCO17_SIGMAS, DEFAULT_SIGMA, KeypointMeta


def test_coco17_preset():
    meta = KeypointMeta(17).validate()
    assert meta.names[0] == 'nose' and meta.names[16] == 'right_ankle'
    assert meta.upper_body_ids == list(range(11))
    assert len(meta.skeleton) == 19
    np.testing.assert_allclose(meta.oks_sigmas()[[0, 5, 11]], [0.026, 0.079, 0.107])
    flip = meta.flip_index
    assert flip.tolist() == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert sorted(flip.tolist()) == list(range(17))


def test_mpii16_preset_has_no_sigmas():
    meta = KeypointMeta(16).validate()
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
    meta = KeypointMeta.from_config({'num_joints': 17, 'skeleton': [[0, 1]]})
    assert meta.skeleton == [[0, 1]]
    assert meta.sigmas == COCO17_SIGMAS


@pytest.mark.parametrize('num_joints', [17, 16, 12])
def test_dict_round_trip(num_joints):
    meta = KeypointMeta(num_joints)
    again = KeypointMeta.from_dict(meta.to_dict())
    assert again.to_dict() == meta.to_dict()


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
        KeypointMeta(17, **kwargs).validate()


def test_flip_index_rejects_bad_pairs():
    with pytest.raises(ValueError, match='out of range'):
        _ = KeypointMeta(5, flip_pairs=[[0, 5]]).flip_index


def test_bad_num_joints():
    with pytest.raises(ValueError, match='num_joints must be a positive integer'):
        KeypointMeta(0)
