"""ppkpt: keypoint detection on PaddlePaddle 3.

Importing the package sets a sensible CPU thread default before paddle is imported and tells
the registry to import the built-in components (:mod:`ppkpt.components`) on its first lookup.
"""
import importlib

from ppkpt.core.threads import default_cpu_threads
from ppkpt.core.workspace import add_component_loader

default_cpu_threads()
add_component_loader(lambda: importlib.import_module('ppkpt.components'))

__version__ = '0.1.0'
