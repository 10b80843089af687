"""Download MPII Human Pose into this folder.

    python dataset/mpii/download_mpii.py [--parts annotations images mat] [--root dataset/mpii]

Parts:

- ``images``: ``mpii_human_pose_v1.tar.gz`` (12.9 GB) from the MPI, extracted to ``images/``;
- ``annotations``: OpenMMLab's json conversion (``mpii_train.json``, ``mpii_val.json``,
  ``mpii_trainval.json``, ``mpii_test.json`` and ``mpii_gt_val.mat`` with the head boxes),
  extracted to ``annotations/``, the layout ``configs/keypoint/hrnet/hrnet_w32_256x256_mpii.yml``
  reads;
- ``mat``: the original release annotations (``mpii_human_pose_v1_u12_2.zip``), for
  ``tools/dataset/mpii_mat2json.py``.

A cut download resumes (run it again). MPII publishes no checksums, so without
``--checksum FILE=sha256:HEX`` only the length the server announces is checked. See
dataset/README.md.
"""
import os
import sys

from ppkpt.utils.download import RemoteFile, download_main

MPI = 'https://datasets.d2.mpi-inf.mpg.de/andriluka14cvpr'

FILES = (
    RemoteFile('mpii_annotations.tar',
               'https://download.openmmlab.com/mmpose/datasets/mpii_annotations.tar',
               'annotations', extract_to='annotations'),
    RemoteFile('mpii_human_pose_v1_u12_2.zip', f'{MPI}/mpii_human_pose_v1_u12_2.zip', 'mat'),
    RemoteFile('mpii_human_pose_v1.tar.gz', f'{MPI}/mpii_human_pose_v1.tar.gz', 'images'),
)
"""The MPII archives (no published checksums)."""

if __name__ == '__main__':
    sys.exit(download_main(__doc__, FILES, os.path.dirname(os.path.abspath(__file__))))
