"""Installs the ``ppkpt`` package. Install the paddle GPU wheel first to train on GPUs."""
from setuptools import find_packages, setup

setup(
    name='ppkpt',
    version='0.1.0',
    description='Keypoint detection (top-down and bottom-up pose estimation) on PaddlePaddle 3',
    packages=find_packages(include=['ppkpt', 'ppkpt.*']),
    python_requires='>=3.8',
    install_requires=[
        'paddlepaddle>=3.0',
        'pycocotools',
        'pyyaml',
        'opencv-python-headless',
        'numpy',
        'scipy',
        'typeguard>=4',
        'tqdm',
    ],
    extras_require={
        'test': ['pytest', 'paddle2onnx>=2.1', 'onnxruntime'],
        'onnx': ['paddle2onnx>=2.1', 'onnxruntime'],
        'vdl': ['visualdl'],
    },
)
