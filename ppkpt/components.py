"""The built-in components: importing this module registers every model, dataset, transform,
codec and metric, the runtime config keys, and the config hook that fills in the keypoint
metadata.

Nobody needs to import it: ``import ppkpt`` adds it as the registry's component loader, so it
runs on the first lookup (:func:`ppkpt.core.workspace.add_component_loader`). The core registry
itself imports no component.
"""
import importlib
from ppkpt.core.workspace import add_config_hook, declare_keys
from ppkpt.metadata import CONFIG_KEYS, fill_config

COMPONENT_MODULES = (
    'ppkpt.codecs.heatmap',
    'ppkpt.data.datasets.keypoint_coco',
    'ppkpt.data.datasets.keypoint_mpii',
    'ppkpt.data.datasets.coco_box',
    'ppkpt.data.datasets.image_folder',
    'ppkpt.data.transforms.common',
    'ppkpt.data.transforms.preprocess',
    'ppkpt.data.transforms.topdown',
    'ppkpt.data.transforms.detection',
    'ppkpt.data.reader',
    'ppkpt.modeling.backbones.hrnet',
    'ppkpt.modeling.backbones.lite_backbone',
    'ppkpt.modeling.heads.topdown_heatmap_head',
    'ppkpt.modeling.heads.centernet_head',
    'ppkpt.modeling.architectures.topdown_hrnet',
    'ppkpt.modeling.architectures.centernet',
    'ppkpt.modeling.losses.keypoint_mse',
    'ppkpt.modeling.losses.centernet_loss',
    'ppkpt.metrics.coco_keypoints',
    'ppkpt.metrics.mpii_pckh',
    'ppkpt.metrics.coco_bbox',
    'ppkpt.engine.optimizer',
    'ppkpt.engine.trainer',
    'ppkpt.engine.callbacks',
    'ppkpt.engine.env',
    'ppkpt.engine.exporter',
)


for _module in COMPONENT_MODULES:
    importlib.import_module(_module)

declare_keys('codec', *CONFIG_KEYS.values())
add_config_hook(fill_config)
