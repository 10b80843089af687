"""Import every built-in component so it registers its name and YAML tag.

Tools import this module once; library users who build from configs do the same. The core
registry itself imports no component.
"""
import importlib

COMPONENT_MODULES = (
    'ppkpt.data.datasets.keypoint_coco',
    'ppkpt.data.datasets.keypoint_mpii',
    'ppkpt.data.datasets.coco_box',
    'ppkpt.data.datasets.image_folder',
    'ppkpt.data.transforms.common',
    'ppkpt.data.transforms.topdown',
    'ppkpt.data.transforms.detection',
    'ppkpt.data.reader',
    'ppkpt.modeling.backbones.hrnet',
    'ppkpt.modeling.backbones.lite_backbone',
    'ppkpt.modeling.architectures.topdown_hrnet',
    'ppkpt.modeling.architectures.centernet',
    'ppkpt.modeling.heads.centernet_head',
    'ppkpt.modeling.losses.keypoint_mse',
    'ppkpt.modeling.losses.centernet_loss',
    'ppkpt.metrics.coco_keypoints',
    'ppkpt.metrics.mpii_pckh',
    'ppkpt.metrics.coco_bbox',
    'ppkpt.engine.optimizer',
)

for _module in COMPONENT_MODULES:
    importlib.import_module(_module)
