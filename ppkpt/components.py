"""The built-in components: importing this module registers every model, dataset, transform,
codec and metric, the runtime config keys, and the config hook that fills in the keypoint
metadata.

Nobody needs to import it: ``import ppkpt`` adds it as the registry's component loader, so it
runs on the first lookup (:func:`ppkpt.core.workspace.add_component_loader`). The core registry
itself imports no component.
"""
import importlib
import os
from typing import Any, Dict, Mapping, Optional

from ppkpt.core.workspace import LazyObject, add_config_hook, declare_keys
from ppkpt.data.coco import load_json
from ppkpt.metadata import CONFIG_KEYS, fill_config

COMPONENT_MODULES = (
    'ppkpt.codecs.heatmap',
    'ppkpt.codecs.associative_embedding',
    'ppkpt.data.datasets.keypoint_coco',
    'ppkpt.data.datasets.keypoint_mpii',
    'ppkpt.data.datasets.keypoint_bottomup',
    'ppkpt.data.datasets.coco_box',
    'ppkpt.data.datasets.image_folder',
    'ppkpt.data.transforms.common',
    'ppkpt.data.transforms.preprocess',
    'ppkpt.data.transforms.topdown',
    'ppkpt.data.transforms.bottomup',
    'ppkpt.data.transforms.occlusion',
    'ppkpt.data.transforms.detection',
    'ppkpt.data.reader',
    'ppkpt.modeling.backbones.hrnet',
    'ppkpt.modeling.backbones.lite_backbone',
    'ppkpt.modeling.backbones.lite_hrnet',
    'ppkpt.modeling.heads.topdown_heatmap_head',
    'ppkpt.modeling.heads.centernet_head',
    'ppkpt.modeling.heads.hrhrnet_head',
    'ppkpt.modeling.architectures.topdown_hrnet',
    'ppkpt.modeling.architectures.centernet',
    'ppkpt.modeling.architectures.higherhrnet',
    'ppkpt.modeling.losses.keypoint_mse',
    'ppkpt.modeling.losses.centernet_loss',
    'ppkpt.modeling.losses.ae_loss',
    'ppkpt.metrics.coco_keypoints',
    'ppkpt.metrics.mpii_pckh',
    'ppkpt.metrics.coco_bbox',
    'ppkpt.engine.optimizer',
    'ppkpt.engine.trainer',
    'ppkpt.engine.callbacks',
    'ppkpt.engine.env',
    'ppkpt.engine.exporter',
)


def dataset_keypoint_category(cfg: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The first keypoint category of the EvalDataset's (else TrainDataset's) COCO json.

    Returns None when neither dataset names an existing json with such a category.
    """
    for key in ('EvalDataset', 'TrainDataset'):
        entry = cfg.get(key)
        if not isinstance(entry, LazyObject) or 'anno_path' not in entry.kwargs:
            continue
        path = os.path.join(str(entry.kwargs.get('dataset_dir', '')), str(entry.kwargs['anno_path']))
        if not (path.endswith('.json') and os.path.isfile(path)):
            continue
        data = load_json(path, key)
        categories = data.get('categories', []) if isinstance(data, dict) else []
        found = next((c for c in categories if isinstance(c, dict) and c.get('keypoints')), None)
        if found is not None:
            return found
    return None


def fill_keypoint_metadata(cfg: Dict[str, Any]) -> None:
    """The config hook: complete the keypoint metadata, from the dataset's category when the
    config names neither a ``keypoint_preset`` nor ``keypoint_names``."""
    category = None
    if 'num_joints' in cfg and not cfg.get('keypoint_preset') and not cfg.get('keypoint_names'):
        category = dataset_keypoint_category(cfg)
    fill_config(cfg, category)


for _module in COMPONENT_MODULES:
    importlib.import_module(_module)

declare_keys('codec', *CONFIG_KEYS.values())
add_config_hook(fill_keypoint_metadata)
