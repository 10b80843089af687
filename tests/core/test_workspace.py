"""Every rule of the config system, including the exact error messages."""
import os
import subprocess
import sys
import textwrap
from typing import List, Optional

import pytest
import yaml

from ppkpt.core import workspace
from ppkpt.core.workspace import (ConfigError, LazyObject, build_object, create, known_keys,
                                  load_config, merge_config, parse_overrides, read_config,
                                  register, serializable)
from ppkpt.core.workspace import load_yaml

from helpers import PLIER_CONFIG, ROOT

COCO_CONFIG = os.path.join(ROOT, 'configs/keypoint/hrnet/hrnet_w32_256x192.yml')


@register
@serializable
class WsBackbone:
    def __init__(self, width: int = 18, return_idx: List[int] = [0]) -> None:
        self.width = width
        self.return_idx = return_idx

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)


@register
class WsLoss:
    def __init__(self, loss_scale: float = 0.5) -> None:
        self.loss_scale = loss_scale

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)


@register
class WsModel:
    __inject__ = ['backbone', 'loss']
    __shared__ = ['num_joints']

    def __init__(self, width: int, backbone: object = 'WsBackbone', loss: object = 'WsLoss',
                 num_joints: int = 17, flip_perm: Optional[List[List[int]]] = None) -> None:
        self.width = width
        self.backbone = backbone
        self.loss = loss
        self.num_joints = num_joints
        self.flip_perm = flip_perm

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)


built = []


@register
@serializable
class WsDataset:
    def __init__(self, dataset_dir: str, anno_path: str = 'a.json', use_gt_bbox: bool = True,
                 transform: list = []) -> None:
        built.append(self)
        self.dataset_dir = dataset_dir
        self.anno_path = anno_path
        self.use_gt_bbox = use_gt_bbox
        self.transform = transform


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_tags_are_lazy_and_built_by_create(tmp_path):
    built.clear()
    path = write(tmp_path, 'c.yml', """
        TrainDataset: !WsDataset
          dataset_dir: /nowhere
          use_gt_bbox: false
    """)
    cfg = load_config(path)
    assert built == []
    assert isinstance(cfg['TrainDataset'], LazyObject)
    dataset = create('TrainDataset', cfg)
    assert built == [dataset]
    assert dataset.dataset_dir == '/nowhere' and dataset.use_gt_bbox is False


def test_base_inheritance_relative_nested_and_ordered(tmp_path):
    write(tmp_path, '_base_/root.yml', """
        epoch: 1
        x_lr: {base: 0.1, steps: [1, 2, 3]}
        x_name: root
    """)
    write(tmp_path, '_base_/mid.yml', """
        _BASE_: [root.yml]
        epoch: 2
        x_lr: {base: 0.2}
        x_mid_only: true
    """)
    write(tmp_path, '_base_/other.yml', """
        epoch: 3
        x_lr: {steps: [9]}
    """)
    path = write(tmp_path, 'sub/child.yml', """
        _BASE_: [../_base_/mid.yml, ../_base_/other.yml]
        x_name: child
    """)
    cfg = load_config(path)
    assert cfg['epoch'] == 3                        # later base overrides earlier
    assert cfg['x_lr'] == {'base': 0.2, 'steps': [9]}  # dicts merge, lists replace
    assert cfg['x_name'] == 'child'                 # the file overrides its bases
    assert cfg['x_mid_only'] is True                # bases nest
    assert cfg['filename'] == 'child'
    assert '_BASE_' not in cfg
    assert read_config(path) == cfg                 # no hook or check changed anything


def test_unknown_key_in_a_base_file_is_reported_by_the_including_config(tmp_path):
    write(tmp_path, '_base_/root.yml', "epoch: 1\nlr: {base: 0.1}\n")
    path = write(tmp_path, 'child.yml', "_BASE_: [_base_/root.yml]\nepoch: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f'{path}: unknown top-level key `lr`.')
    assert read_config(path)['lr'] == {'base': 0.1}  # read_config does not check


def test_override_parsing_types_and_shared_prefix():
    opts = parse_overrides(['a.b.c=1', 'a.b.d=[1, 2]', 'a.e=false', 'w=out/x.pdparams',
                            'f=0.5'])
    assert opts == {'a': {'b': {'c': 1, 'd': [1, 2]}, 'e': False}, 'w': 'out/x.pdparams',
                    'f': 0.5}


def test_override_reaches_into_tagged_objects(tmp_path):
    path = write(tmp_path, 'c.yml', """
        epoch: 10
        TrainReader: {batch_size: 2, shuffle: true}
        TrainDataset: !WsDataset {dataset_dir: /a, anno_path: x.json}
    """)
    options = ['TrainDataset.dataset_dir=/data/x', 'TrainReader.batch_size=8', 'epoch=3']
    cfg = load_config(path, options)
    assert cfg['epoch'] == 3
    assert cfg['TrainReader'] == {'batch_size': 8, 'shuffle': True}
    dataset = create('TrainDataset', cfg)
    assert (dataset.dataset_dir, dataset.anno_path) == ('/data/x', 'x.json')
    nested = load_config(path, {'TrainDataset': {'dataset_dir': '/data/y'}, 'epoch': 4})
    assert nested['epoch'] == 4 and create('TrainDataset', nested).dataset_dir == '/data/y'
    plain = load_config(path)
    assert plain['epoch'] == 10 and create('TrainDataset', plain).dataset_dir == '/a'


def test_merge_config_returns_a_new_dict_and_leaves_both_inputs_alone():
    base = {'epoch': 1, 'TrainReader': {'batch_size': 2, 'shuffle': True}}
    override = {'TrainReader': {'batch_size': 8}}
    merged = merge_config(override, base)
    assert merged == {'epoch': 1, 'TrainReader': {'batch_size': 8, 'shuffle': True}}
    assert base == {'epoch': 1, 'TrainReader': {'batch_size': 2, 'shuffle': True}}
    assert override == {'TrainReader': {'batch_size': 8}}
    merged['TrainReader']['shuffle'] = False
    assert base['TrainReader']['shuffle'] is True


def test_shared_priority(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', "WsModel: {width: 32}\n"))
    assert create('WsModel', cfg).num_joints == 17            # default
    cfg = load_config(write(tmp_path, 'b.yml', "num_joints: 5\nWsModel: {width: 32}\n"))
    assert create('WsModel', cfg).num_joints == 5             # top-level key
    cfg = load_config(write(tmp_path, 'c.yml',
                            "num_joints: 5\nWsModel: {width: 32, num_joints: 3}\n"))
    assert create('WsModel', cfg).num_joints == 3             # module's own value
    assert create('WsModel', cfg, num_joints=2).num_joints == 2  # keyword overrides win


def test_inject_string_dict_and_none(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', """
        WsModel: {width: 32, backbone: WsBackbone, loss: {name: WsLoss, loss_scale: 1.0}}
        WsBackbone: {width: 48}
    """))
    model = create('WsModel', cfg)
    assert model.backbone == WsBackbone(width=48)
    assert model.loss == WsLoss(loss_scale=1.0)
    cfg = load_config(write(tmp_path, 'b.yml', "WsModel: {width: 32, loss: null}\n"))
    model = create('WsModel', cfg)
    assert model.loss is None and model.backbone == WsBackbone()


def test_inject_unknown_name(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', "WsModel: {width: 32, backbone: WsBackbon}\n"))
    with pytest.raises(ConfigError, match='Unknown module `WsBackbon` injected at '
                                          'WsModel.backbone. Did you mean `WsBackbone`?'):
        create('WsModel', cfg)


def test_create_does_not_mutate_config(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', """
        num_joints: 5
        WsModel: {width: 32, flip_perm: [[1, 2]], backbone: {name: WsBackbone, width: 40}}
        TrainDataset: !WsDataset {dataset_dir: /a, transform: [{A: 1}]}
    """))
    snapshot = repr(cfg)
    first, second = create('WsModel', cfg), create('WsModel', cfg)
    assert first == second and first is not second
    first.flip_perm.append([3, 4])
    assert create('WsModel', cfg).flip_perm == [[1, 2]]
    create('TrainDataset', cfg).transform.append('x')
    workspace.filled_config(cfg)
    assert repr(cfg) == snapshot


def test_type_error_names_path_type_and_value(tmp_path):
    path = write(tmp_path, 'a.yml', "WsModel: {width: thirty-two}\n")
    cfg = load_config(path)
    with pytest.raises(ConfigError) as err:
        create('WsModel', cfg)
    assert str(err.value) == f"{path}: WsModel.width: expected int, got str 'thirty-two'"


def test_type_error_inside_tag_and_list(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', "WsBackbone: {return_idx: [0, x]}\n"))
    with pytest.raises(ConfigError, match=r"WsBackbone.return_idx: expected List\[int\], "
                                          r"got list \[0, 'x'\]"):
        create('WsBackbone', cfg)


def test_unknown_key_suggests_nearest_at_load_time(tmp_path):
    path = write(tmp_path, 'a.yml', "TrainDataset: !WsDataset {dataset_dir: /a, use_gt_box: true}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        f'{path}: Unknown key `use_gt_box` in TrainDataset (WsDataset). Did you mean `use_gt_bbox`? '
        'Accepted keys: dataset_dir, anno_path, use_gt_bbox, transform')


def test_unknown_key_in_module_section(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', "WsModel: {width: 32, flip_prem: []}\n"))
    message = 'Unknown key `flip_prem` in WsModel \\(WsModel\\). Did you mean `flip_perm`?'
    with pytest.raises(ConfigError, match=message):
        create('WsModel', cfg)
    with pytest.raises(ConfigError, match=message):  # print_config fails as training would
        workspace.filled_config(cfg)


def test_unknown_tag_lists_names_and_nearest(tmp_path):
    path = write(tmp_path, 'a.yml', "TrainDataset: !WsDatset {dataset_dir: /a}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f'Unknown tag `!WsDatset` in {path}, line 1. '
                              'Did you mean `WsDataset`? Registered names: ')
    assert 'WsBackbone' in message and 'WsModel' in message


def test_missing_required_argument(tmp_path):
    path = write(tmp_path, 'a.yml', "TrainDataset: !WsDataset {anno_path: x.json}\n")
    cfg = load_config(path)
    with pytest.raises(ConfigError) as err:
        create('TrainDataset', cfg)
    assert str(err.value) == (f'{path}: Missing required argument `dataset_dir` for WsDataset '
                              f'at TrainDataset')


def test_unregistered_module_name():
    with pytest.raises(ConfigError, match='Unknown module `WsModle`. Did you mean `WsModel`?'):
        create('WsModle', {})


def test_python_tags_are_rejected_and_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, 'evil.yml', 'x: !!python/object/apply:os.system ["touch pwned"]\n')
    with pytest.raises(ConfigError, match='Unsupported YAML tag tag:yaml.org,2002:python/object/'
                                          'apply:os.system'):
        load_config(path)
    assert not os.path.exists(tmp_path / 'pwned')


def test_override_values_are_loaded_safely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        parse_overrides(['x=!!python/object/apply:os.system ["touch pwned"]'])
    assert not os.path.exists(tmp_path / 'pwned')


def test_build_object_from_transform_style_mapping():
    backbone = build_object({'WsBackbone': {'width': 64}}, 'TrainReader.ops[0]', {})
    assert backbone == WsBackbone(width=64)
    with pytest.raises(ConfigError, match=r'Unknown key `widht` in TrainReader.ops\[0\].WsBackbone'):
        build_object({'WsBackbone': {'widht': 64}}, 'TrainReader.ops[0]', {})


def test_build_ops_builds_a_list_and_names_the_bad_entry():
    ops = workspace.build_ops([{'WsFlipOp': {'trainsize': [4, 4]}}, str.upper], 'ops',
                              {'flip_perm': [[0, 1]]})
    assert ops[0].flip_pairs == [[0, 1]] and ops[1] is str.upper
    assert workspace.build_ops(None, 'ops', {}) == []
    with pytest.raises(ConfigError, match=r'ops\[0\]: WsLoss is not a transform'):
        workspace.build_ops([{'WsLoss': {}}], 'ops', {})
    with pytest.raises(ConfigError, match='ops: expected a list'):
        workspace.build_ops({'WsFlipOp': {}}, 'ops', {})


def test_filled_config_shows_defaults_and_missing(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', """
        WsModel: {width: 32}
        TrainDataset: !WsDataset {anno_path: y.json}
    """))
    filled = workspace.filled_config(cfg)
    assert filled['WsModel']['num_joints'] == 17 and filled['WsModel']['backbone'] == 'WsBackbone'
    assert filled['TrainDataset'].kwargs['dataset_dir'] == '<missing>'
    assert filled['TrainDataset'].kwargs['anno_path'] == 'y.json'


def test_filled_config_shows_the_shared_value_each_part_receives(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', """
        trainsize: [48, 64]
        num_joints: 3
        flip_perm: [[1, 2]]
        x_mine: {anything: [1, 2]}
        x_op: !WsFlipOp {}
        WsModel: {width: 32}
    """))
    filled = workspace.filled_config(cfg)
    assert filled['WsModel']['num_joints'] == 3               # the top-level key, not 17
    assert filled['x_op'].kwargs == {'trainsize': [48, 64], 'flip_pairs': [[1, 2]]}
    assert filled['x_mine'] == {'anything': [1, 2]}
    text = yaml.dump(filled, Dumper=workspace.ConfigDumper)
    assert '&id' not in text and '*id' not in text           # no YAML aliases for shared values
    assert load_yaml(text)['x_op'] == filled['x_op']


def test_duplicate_registration_is_an_error():
    class WsBackbone:  # noqa: F811 - a different class with a registered name
        def __init__(self) -> None:
            pass

    with pytest.raises(ConfigError, match='WsBackbone is already registered by'):
        register(WsBackbone)


@serializable
class WsFlipOp:
    __shared__ = {'flip_pairs': 'flip_perm', 'trainsize': 'trainsize'}

    def __init__(self, trainsize: List[int], flip_pairs: List[List[int]] = []) -> None:
        self.trainsize = trainsize
        self.flip_pairs = flip_pairs

    def __call__(self, record: dict) -> dict:
        return record


def test_shared_with_rename_and_required_shared_argument(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', "trainsize: [48, 64]\nflip_perm: [[1, 2]]\n"))
    op = build_object({'WsFlipOp': None}, 'TrainReader.sample_transforms[0]', cfg)
    assert (op.trainsize, op.flip_pairs) == ([48, 64], [[1, 2]])
    cfg = load_config(write(tmp_path, 'b.yml', "flip_perm: [[1, 2]]\n"))
    with pytest.raises(ConfigError, match='Missing required argument `trainsize` for WsFlipOp'):
        build_object({'WsFlipOp': {}}, 'TrainReader.sample_transforms[0]', cfg)


# --------------------------------------------------------------------------- strict explicit config


def test_misspelled_top_level_key_in_an_override_names_it_and_suggests_the_key():
    with pytest.raises(ConfigError) as err:
        load_config(PLIER_CONFIG, ['epochh=3'])
    message = str(err.value)
    assert message.startswith(f'{PLIER_CONFIG}: unknown top-level key `epochh`. '
                              'Did you mean `epoch`?')
    assert 'start with `x_`' in message
    assert load_config(PLIER_CONFIG, ['epoch=3'])['epoch'] == 3


def test_misspelled_top_level_key_in_a_config_with_a_base_is_reported(tmp_path):
    path = write(tmp_path, 'mine.yml', f"_BASE_: [{PLIER_CONFIG}]\nepochh: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f'{path}: unknown top-level key `epochh`. '
                                     'Did you mean `epoch`?')
    assert read_config(path)['epochh'] == 3          # reading alone does not check


def test_user_keys_with_the_x_prefix_are_accepted_and_kept(tmp_path):
    path = write(tmp_path, 'mine.yml', f"""
        _BASE_: [{PLIER_CONFIG}]
        x_notes: {{owner: me, runs: [1, 2]}}
        x_epochh: 3
    """)
    cfg = load_config(path, ['x_extra=7'])
    assert cfg['x_notes'] == {'owner': 'me', 'runs': [1, 2]}
    assert (cfg['x_epochh'], cfg['x_extra']) == (3, 7)
    assert cfg['epoch'] == 110                       # the base's value is untouched


def test_misspelled_section_name_suggests_the_registered_name(tmp_path):
    path = write(tmp_path, 'mine.yml', f"""
        _BASE_: [{PLIER_CONFIG}]
        TopDownHeatmapHaed: {{in_channels: 18}}
    """)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert 'unknown top-level key `TopDownHeatmapHaed`. Did you mean `TopDownHeatmapHead`?' \
        in str(err.value)


def test_known_keys_are_declared_registered_and_shared_keys():
    known = known_keys()
    assert {'epoch', 'save_dir', 'weights', 'codec', 'keypoint_preset'} <= known  # declared
    assert {'TopDownHRNet', 'TopDownHeatmapHead', 'HeatmapCodec', 'WsModel'} <= known
    assert {'trainsize', 'hmsize', 'num_joints', 'flip_perm', 'pixel_std'} <= known  # shared
    assert 'epochh' not in known and 'x_anything' not in known


def test_two_configs_do_not_leak_into_each_other(tmp_path):
    first = load_config(write(tmp_path, 'a.yml', """
        trainsize: [48, 64]
        flip_perm: [[1, 2]]
        WsModel: {width: 32, backbone: {name: WsBackbone, width: 40}}
    """))
    second = load_config(write(tmp_path, 'b.yml', """
        trainsize: [96, 128]
        num_joints: 4
        flip_perm: [[0, 3]]
        WsModel: {width: 64}
    """))
    model = create('WsModel', first)
    assert (model.width, model.num_joints, model.backbone.width) == (32, 17, 40)
    assert create('WsModel', second).width == 64 and create('WsModel', second).num_joints == 4
    op = build_object({'WsFlipOp': None}, 'ops[0]', first)
    assert (op.trainsize, op.flip_pairs) == ([48, 64], [[1, 2]])
    assert 'keypoint_names' not in first and second['keypoint_names'] == ['kp0', 'kp1', 'kp2',
                                                                           'kp3']
    with pytest.raises(TypeError):
        create('WsModel')                            # there is no module-level config to use


def test_two_real_configs_build_their_own_codec_and_metadata():
    plier = load_config(PLIER_CONFIG)
    coco = load_config(COCO_CONFIG)
    codec = create('codec', plier)                   # built after the COCO config was loaded
    assert codec.input_size.tolist() == [128, 128] and codec.heatmap_size.tolist() == [32, 32]
    assert (codec.sigma, codec.target_type) == (1.5, 'dark')
    coco_codec = create('codec', coco)
    assert coco_codec.input_size.tolist() == [192, 256]
    assert (coco_codec.sigma, coco_codec.target_type) == (2.0, 'gaussian')
    assert plier['num_joints'] == 5 and plier['keypoint_names'][2] == 'hinge'
    assert coco['num_joints'] == 17 and coco['keypoint_names'][0] == 'nose'


def test_load_config_fills_the_keypoint_metadata():
    assert 'keypoint_names' not in read_config(COCO_CONFIG)
    coco = load_config(COCO_CONFIG)
    assert coco['keypoint_preset'] == 'coco17'
    names = coco['keypoint_names']
    assert len(names) == 17 and names[0] == 'nose' and names[16] == 'right_ankle'
    assert names[5:7] == ['left_shoulder', 'right_shoulder']
    assert [5, 6] in coco['flip_perm'] and [15, 16] in coco['flip_perm']
    assert len(coco['flip_perm']) == 8 and len(coco['sigmas']) == 17
    assert coco['upper_body_ids'] == list(range(11))
    assert 'keypoint_colors' not in read_config(PLIER_CONFIG)
    plier = load_config(PLIER_CONFIG)
    assert plier['flip_perm'] == [[0, 1], [3, 4]] and plier['upper_body_ids'] == [2, 3, 4]
    assert len(plier['keypoint_colors']) == 5        # filled: the file gives none


def test_seventeen_joints_without_a_preset_get_generic_metadata(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', "num_joints: 17\n"))
    assert cfg['keypoint_names'][:2] == ['kp0', 'kp1'] and cfg['flip_perm'] == []
    assert cfg['sigmas'] == [0.025] * 17


def test_metadata_that_does_not_fit_is_a_config_error_naming_the_file(tmp_path):
    path = write(tmp_path, 'a.yml', "num_joints: 5\nkeypoint_preset: coco17\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f'{path}: ') and 'coco17' in str(err.value)


def test_a_python_user_needs_no_components_import():
    code = ("import sys; from ppkpt.core.workspace import load_config, create; "
            "assert 'ppkpt.components' not in sys.modules; "
            "cfg = load_config('configs/keypoint/hrnet/hrnet_w32_256x192.yml'); "
            "lr = create('LearningRate', cfg); "
            "print(type(lr).__name__, cfg['keypoint_names'][0], 'ppkpt.components' in sys.modules)")
    env = dict(os.environ, PYTHONWARNINGS='ignore', GLOG_minloglevel='2', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ['LearningRate', 'nose', 'True']


def test_codec_in_a_section_is_rejected_as_top_level_only(tmp_path):
    path = write(tmp_path, 'mine.yml', f"""
        _BASE_: [{PLIER_CONFIG}]
        TopDownHeatmapHead: {{codec: !HeatmapCodec {{sigma: 3}}}}
    """)
    cfg = load_config(path)
    message = (r'`codec` is set once, at the top level of the config, so every part uses the '
               r'same one; remove it from TopDownHeatmapHead \(TopDownHeatmapHead\)')
    with pytest.raises(ConfigError, match=message):
        create('TopDownHeatmapHead', cfg)
    with pytest.raises(ConfigError, match=message):
        workspace.filled_config(cfg)
    with pytest.raises(ConfigError, match=r'`codec` is set once.*TrainReader.sample_transforms'
                                          r'\[1\].TopDownAffine'):
        build_object({'TopDownAffine': {'codec': cfg['codec']}},
                     'TrainReader.sample_transforms[1]', cfg)
    filled = workspace.filled_config(load_config(PLIER_CONFIG))
    assert 'codec' not in filled['TopDownHeatmapHead']     # shown once, at the top level
    assert filled['codec'].kwargs['input_size'] == [128, 128]  # from trainsize


@pytest.mark.parametrize('option, hint', [
    ('TopDownHRNet.use_dark=true', '`use_dark` in TopDownHRNet (TopDownHRNet) is now set as '
                                   '`codec.use_dark`'),
    ('TopDownHRNet.width=32', '`width` in TopDownHRNet (TopDownHRNet) is now set as '
                              '`TopDownHeatmapHead.in_channels`'),
    ('TopDownHRNet.shift_heatmap=true', '`codec.flip_alignment`'),
    ('TopDownHRNet.flip=false', '`TopDownHeatmapHead.flip_test`'),
])
def test_paddledetection_keys_give_the_moved_key_hint(option, hint):
    cfg = load_config(PLIER_CONFIG, [option])
    with pytest.raises(ConfigError) as err:
        create('TopDownHRNet', cfg)
    assert hint in str(err.value) and 'docs/config.md' in str(err.value)


def test_use_udp_on_the_crop_op_points_to_the_codec():
    cfg = load_config(PLIER_CONFIG)
    with pytest.raises(ConfigError, match=r'`use_udp` in ops\[0\].TopDownAffine \(TopDownAffine\) '
                                          r'is now set as `codec.target_type`'):
        build_object({'TopDownAffine': {'use_udp': True}}, 'ops[0]', cfg)
