"""Paddle Inference deployment: predictor, detectors, tracking, smoothing and the scripts.

Imports from outside this package only the numpy/cv2 modules of ppkpt (the shared
preprocessing, codecs, geometry, metadata, image reading, drawing and the command-line parser
``ppkpt.core.cli``) and ``paddle.inference`` (when a predictor is built); see docs/deploy.md.
"""
