"""Paddle Inference deployment: predictor, preprocess, detectors, tracking and smoothing.

Imports only ``ppkpt.geometry``, ``ppkpt.codecs.heatmap``, ``ppkpt.metadata``,
``ppkpt.visualize`` and ``paddle.inference`` from outside this package.
"""
