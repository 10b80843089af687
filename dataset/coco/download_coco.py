"""Download COCO 2017 (images and annotations, with person keypoints) into this folder.

    python dataset/coco/download_coco.py [--parts annotations val train] [--root dataset/coco]

Resumes a cut download (run it again), checks each archive's published md5 and extracts it:
``train2017/`` (118k images, 18 GB), ``val2017/`` (5k images, 1 GB) and ``annotations/``
(``person_keypoints_{train,val}2017.json`` among them), the layout the COCO configs read. See
dataset/README.md.
"""
import os
import sys

from ppkpt.utils.download import RemoteFile, download_main

IMAGES = 'http://images.cocodataset.org/zips'
ANNOTATIONS = 'http://images.cocodataset.org/annotations'

FILES = (
    RemoteFile('annotations_trainval2017.zip', f'{ANNOTATIONS}/annotations_trainval2017.zip',
               'annotations', md5='f4bbac642086de4f52a3fdda2de5fa2c'),
    RemoteFile('val2017.zip', f'{IMAGES}/val2017.zip', 'val',
               md5='442b8da7639aecaf257c1dceb8ba8c80'),
    RemoteFile('train2017.zip', f'{IMAGES}/train2017.zip', 'train',
               md5='cced6f7f71b7629ddf16f17bbcfab6b2'),
)
"""The COCO 2017 archives and the md5 sums published with them."""

if __name__ == '__main__':
    sys.exit(download_main(__doc__, FILES, os.path.dirname(os.path.abspath(__file__))))
