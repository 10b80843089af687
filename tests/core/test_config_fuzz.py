"""200 seeded random mutations of a real config: each loads and builds, or fails with a
ConfigError that names the file (and the line, where YAML gives one); never another error."""
import random
import re
from typing import Any, Callable, List, Tuple

import pytest
import yaml

from ppkpt.core.workspace import (ConfigDumper, ConfigError, LazyObject, create, load_config,
                                  load_yaml)
from ppkpt.engine.exporter import infer_cfg_from_config
from ppkpt.engine.trainer import Trainer

from helpers import PLIER_CONFIG, tiny_plier_options

MUTATIONS = 200
KINDS = ('delete_key', 'swap_type', 'break_syntax', 'python_tag', 'unknown_tag')


def _containers(node: Any, path: Tuple = ()) -> List[Tuple[Tuple, Any]]:
    """Every (path, dict-like) in a parsed config, LazyObject kwargs included."""
    found = []
    mapping = node.kwargs if isinstance(node, LazyObject) else node
    if isinstance(mapping, dict) and mapping:
        found.append((path, mapping))
        for key, value in mapping.items():
            found.extend(_containers(value, path + (key,)))
    elif isinstance(mapping, list):
        for i, value in enumerate(mapping):
            found.extend(_containers(value, path + (i,)))
    return found


def _swapped(value: Any) -> Any:
    """A value of another type than ``value``."""
    if isinstance(value, bool):
        return 'maybe'
    if isinstance(value, (int, float)):
        return f'n{value}'
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return 'not-a-list'
    return [1, 2]


def _mutate_tree(text: str, rng: random.Random, change: Callable) -> str:
    tree = load_yaml(text)
    path, mapping = rng.choice(_containers(tree))
    key = rng.choice(sorted(mapping, key=str))
    change(mapping, key)
    return yaml.dump(tree, Dumper=ConfigDumper, sort_keys=False)


def mutate(text: str, kind: str, rng: random.Random) -> str:
    """One mutation of config ``text``."""
    if kind == 'delete_key':
        return _mutate_tree(text, rng, lambda m, k: m.pop(k))
    if kind == 'swap_type':
        return _mutate_tree(text, rng, lambda m, k: m.__setitem__(k, _swapped(m[k])))
    lines = text.splitlines()
    index = rng.randrange(len(lines))
    if kind == 'break_syntax':
        lines[index] = rng.choice(['{' + lines[index], lines[index] + ': [', '\t' + lines[index],
                                   lines[index] + ' "', '- ' + lines[index] + ':'])
    elif kind == 'python_tag':
        lines.insert(index, 'x_evil: !!python/object/apply:os.system ["echo pwned"]')
    else:
        lines.insert(index, f'x_extra: !NoSuchOp{rng.randrange(100)} {{a: 1}}')
    return '\n'.join(lines) + '\n'


def build(path: str, data_dir: str, out_dir: str) -> None:
    """What train (with --eval), infer and export build before their first step."""
    cfg = load_config(path, tiny_plier_options(data_dir, out_dir))
    trainer = Trainer(cfg, 'train')
    trainer.build_metric()
    create('EvalReader', cfg)
    create('TestReader', cfg)
    infer_cfg_from_config(cfg)


@pytest.fixture(scope='module')
def plier_text() -> str:
    with open(PLIER_CONFIG) as f:
        return f.read()


def test_every_mutation_loads_or_gives_a_config_error(plier_text, plier_data, tmp_path):
    rng = random.Random(0)
    outcomes = {kind: {'ok': 0, 'error': 0} for kind in KINDS}
    for i in range(MUTATIONS):
        kind = KINDS[i % len(KINDS)]
        path = tmp_path / f'mutation_{i:03d}.yml'
        path.write_text(mutate(plier_text, kind, rng))
        try:
            build(str(path), plier_data, str(tmp_path / 'out'))
        except ConfigError as err:
            message = str(err)
            assert str(path) in message, (kind, message)
            assert '\n' not in message.strip() or kind == 'break_syntax', message
            if kind in ('python_tag', 'unknown_tag') or 'invalid YAML' in message:
                assert re.search(r'line \d+', message), (kind, message)
            outcomes[kind]['error'] += 1
        except Exception as err:  # noqa: BLE001 - the point: no other type may escape
            pytest.fail(f'mutation {i} ({kind}) of {path} raised {type(err).__name__}: {err}\n'
                        f'{path.read_text()}')
        else:
            outcomes[kind]['ok'] += 1
    for kind in ('python_tag', 'unknown_tag'):
        assert outcomes[kind] == {'ok': 0, 'error': MUTATIONS // len(KINDS)}, outcomes
    assert outcomes['break_syntax']['error'] >= 0.7 * MUTATIONS // len(KINDS), outcomes
    assert outcomes['swap_type']['error'] >= 0.6 * MUTATIONS // len(KINDS), outcomes
    assert outcomes['delete_key']['error'] > 0, outcomes
