"""ppkpt: keypoint detection on PaddlePaddle 3.

Importing the package sets a sensible CPU thread default before paddle is imported; import
:mod:`ppkpt.components` to register every model, dataset, transform and metric.
"""
from ppkpt.core.threads import default_cpu_threads

default_cpu_threads()

__version__ = '0.1.0'
