"""The built-in config hook: keypoint metadata comes from the data, never from K alone."""
import textwrap

from ppkpt.core.workspace import load_config
from ppkpt.metadata import COCO17_NAMES, KeypointMeta, derive_flip_pairs

from helpers import ROOT

AP10K_DIR = f'{ROOT}/tests/data/ap10k'


def _config(tmp_path, extra: str = '') -> str:
    path = tmp_path / 'ap10k.yml'
    path.write_text(textwrap.dedent(f"""
        num_joints: 17
        {extra}
        EvalDataset: !KeypointTopDownCocoDataset
          dataset_dir: {AP10K_DIR}
          image_dir: ''
          anno_path: test_ap10k.json
    """))
    return str(path)


def test_ap10k_metadata_comes_from_its_categories(tmp_path):
    cfg = load_config(_config(tmp_path))
    assert cfg['keypoint_names'][:5] == ['left_eye', 'right_eye', 'nose', 'neck', 'root_of_tail']
    assert cfg['keypoint_names'] != COCO17_NAMES
    assert cfg['flip_perm'] == derive_flip_pairs(cfg['keypoint_names']) and cfg['flip_perm']
    assert [0, 1] in cfg['flip_perm'] and cfg['skeleton'] and min(min(cfg['skeleton'])) == 0


def test_ap10k_preset_agrees_with_the_categories(tmp_path):
    from_data = load_config(_config(tmp_path))
    from_preset = load_config(_config(tmp_path, 'keypoint_preset: ap10k17'))
    for key in ('keypoint_names', 'flip_perm', 'skeleton'):
        assert from_preset[key] == from_data[key], key
    assert KeypointMeta.from_config(from_preset).preset == 'ap10k17'


def test_coco_configs_name_their_preset():
    cfg = load_config(f'{ROOT}/configs/keypoint/hrnet/hrnet_w32_256x192.yml')
    assert cfg['keypoint_preset'] == 'coco17' and cfg['keypoint_names'] == COCO17_NAMES
    mpii = load_config(f'{ROOT}/configs/keypoint/hrnet/hrnet_w32_256x256_mpii.yml')
    assert mpii['keypoint_preset'] == 'mpii16' and mpii['keypoint_names'][0] == 'right_ankle'
