"""Every rule of the config system, including the exact error messages."""
import os
import textwrap
from typing import List, Optional

import pytest

from ppkpt.core import workspace
from ppkpt.core.workspace import (ConfigError, LazyObject, create, load_config, merge_config,
                                  parse_overrides, register, serializable)


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
    dataset = create('TrainDataset')
    assert built == [dataset]
    assert dataset.dataset_dir == '/nowhere' and dataset.use_gt_bbox is False


def test_base_inheritance_relative_nested_and_ordered(tmp_path):
    write(tmp_path, '_base_/root.yml', """
        epoch: 1
        lr: {base: 0.1, steps: [1, 2, 3]}
        name: root
    """)
    write(tmp_path, '_base_/mid.yml', """
        _BASE_: [root.yml]
        epoch: 2
        lr: {base: 0.2}
        mid_only: true
    """)
    write(tmp_path, '_base_/other.yml', """
        epoch: 3
        lr: {steps: [9]}
    """)
    path = write(tmp_path, 'sub/child.yml', """
        _BASE_: [../_base_/mid.yml, ../_base_/other.yml]
        name: child
    """)
    cfg = load_config(path)
    assert cfg['epoch'] == 3                      # later base overrides earlier
    assert cfg['lr'] == {'base': 0.2, 'steps': [9]}  # dicts merge, lists replace
    assert cfg['name'] == 'child'                 # the file overrides its bases
    assert cfg['mid_only'] is True                # bases nest
    assert cfg['filename'] == 'child'
    assert '_BASE_' not in cfg


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
    load_config(path)
    cfg = merge_config(parse_overrides(['TrainDataset.dataset_dir=/data/x',
                                        'TrainReader.batch_size=8', 'epoch=3']))
    assert cfg['epoch'] == 3
    assert cfg['TrainReader'] == {'batch_size': 8, 'shuffle': True}
    dataset = create('TrainDataset')
    assert (dataset.dataset_dir, dataset.anno_path) == ('/data/x', 'x.json')


def test_shared_priority(tmp_path):
    load_config(write(tmp_path, 'a.yml', "WsModel: {width: 32}\n"))
    assert create('WsModel').num_joints == 17                 # default
    load_config(write(tmp_path, 'b.yml', "num_joints: 5\nWsModel: {width: 32}\n"))
    assert create('WsModel').num_joints == 5                  # top-level key
    load_config(write(tmp_path, 'c.yml', "num_joints: 5\nWsModel: {width: 32, num_joints: 3}\n"))
    assert create('WsModel').num_joints == 3                  # module's own value


def test_inject_string_dict_and_none(tmp_path):
    load_config(write(tmp_path, 'a.yml', """
        WsModel: {width: 32, backbone: WsBackbone, loss: {name: WsLoss, loss_scale: 1.0}}
        WsBackbone: {width: 48}
    """))
    model = create('WsModel')
    assert model.backbone == WsBackbone(width=48)
    assert model.loss == WsLoss(loss_scale=1.0)
    load_config(write(tmp_path, 'b.yml', "WsModel: {width: 32, loss: null}\n"))
    model = create('WsModel')
    assert model.loss is None and model.backbone == WsBackbone()


def test_inject_unknown_name(tmp_path):
    load_config(write(tmp_path, 'a.yml', "WsModel: {width: 32, backbone: WsBackbon}\n"))
    with pytest.raises(ConfigError, match='Unknown module `WsBackbon` injected at '
                                          'WsModel.backbone. Did you mean `WsBackbone`?'):
        create('WsModel')


def test_create_does_not_mutate_config(tmp_path):
    cfg = load_config(write(tmp_path, 'a.yml', """
        num_joints: 5
        WsModel: {width: 32, flip_perm: [[1, 2]], backbone: {name: WsBackbone, width: 40}}
        TrainDataset: !WsDataset {dataset_dir: /a, transform: [{A: 1}]}
    """))
    snapshot = repr(cfg)
    first, second = create('WsModel'), create('WsModel')
    assert first == second and first is not second
    first.flip_perm.append([3, 4])
    assert create('WsModel').flip_perm == [[1, 2]]
    create('TrainDataset').transform.append('x')
    assert repr(cfg) == snapshot


def test_type_error_names_path_type_and_value(tmp_path):
    load_config(write(tmp_path, 'a.yml', "WsModel: {width: thirty-two}\n"))
    with pytest.raises(ConfigError) as err:
        create('WsModel')
    assert str(err.value) == "WsModel.width: expected int, got str 'thirty-two'"


def test_type_error_inside_tag_and_list(tmp_path):
    load_config(write(tmp_path, 'a.yml', "WsBackbone: {return_idx: [0, x]}\n"))
    with pytest.raises(ConfigError, match=r"WsBackbone.return_idx: expected List\[int\], "
                                          r"got list \[0, 'x'\]"):
        create('WsBackbone')


def test_unknown_key_suggests_nearest_at_load_time(tmp_path):
    path = write(tmp_path, 'a.yml', "TrainDataset: !WsDataset {dataset_dir: /a, use_gt_box: true}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        'Unknown key `use_gt_box` in TrainDataset (WsDataset). Did you mean `use_gt_bbox`? '
        'Accepted keys: dataset_dir, anno_path, use_gt_bbox, transform')


def test_unknown_key_in_module_section(tmp_path):
    load_config(write(tmp_path, 'a.yml', "WsModel: {width: 32, flip_prem: []}\n"))
    with pytest.raises(ConfigError, match='Unknown key `flip_prem` in WsModel \\(WsModel\\). '
                                          'Did you mean `flip_perm`?'):
        create('WsModel')


def test_unknown_tag_lists_names_and_nearest(tmp_path):
    path = write(tmp_path, 'a.yml', "TrainDataset: !WsDatset {dataset_dir: /a}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f'Unknown tag `!WsDatset` in {path}, line 1. '
                              'Did you mean `WsDataset`? Registered names: ')
    assert 'WsBackbone' in message and 'WsModel' in message


def test_missing_required_argument(tmp_path):
    load_config(write(tmp_path, 'a.yml', "TrainDataset: !WsDataset {anno_path: x.json}\n"))
    with pytest.raises(ConfigError) as err:
        create('TrainDataset')
    assert str(err.value) == 'Missing required argument `dataset_dir` for WsDataset at TrainDataset'


def test_unregistered_module_name():
    with pytest.raises(ConfigError, match='Unknown module `WsModle`. Did you mean `WsModel`?'):
        create('WsModle')


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
    backbone = workspace.build_object({'WsBackbone': {'width': 64}}, 'TrainReader.ops[0]')
    assert backbone == WsBackbone(width=64)
    with pytest.raises(ConfigError, match=r'Unknown key `widht` in TrainReader.ops\[0\].WsBackbone'):
        workspace.build_object({'WsBackbone': {'widht': 64}}, 'TrainReader.ops[0]')


def test_filled_config_shows_defaults_and_missing(tmp_path):
    load_config(write(tmp_path, 'a.yml', """
        WsModel: {width: 32}
        TrainDataset: !WsDataset {anno_path: y.json}
    """))
    filled = workspace.filled_config()
    assert filled['WsModel']['num_joints'] == 17 and filled['WsModel']['backbone'] == 'WsBackbone'
    assert filled['TrainDataset'].kwargs['dataset_dir'] == '<missing>'
    assert filled['TrainDataset'].kwargs['anno_path'] == 'y.json'


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


def test_shared_with_rename_and_required_shared_argument(tmp_path):
    load_config(write(tmp_path, 'a.yml', "trainsize: [48, 64]\nflip_perm: [[1, 2]]\n"))
    op = workspace.build_object({'WsFlipOp': None}, 'TrainReader.sample_transforms[0]')
    assert (op.trainsize, op.flip_pairs) == ([48, 64], [[1, 2]])
    load_config(write(tmp_path, 'b.yml', "flip_perm: [[1, 2]]\n"))
    with pytest.raises(ConfigError, match='Missing required argument `trainsize` for WsFlipOp'):
        workspace.build_object({'WsFlipOp': {}}, 'TrainReader.sample_transforms[0]')
