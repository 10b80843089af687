"""Draw dataset samples with their keypoints, names and skeleton, to check data and flip_perm.

    python tools/browse_dataset.py -c CONFIG --mode original --out browse/
    python tools/browse_dataset.py -c CONFIG --mode transformed --out browse/ --num 20

``original`` draws each object's annotation on its image; ``transformed`` runs the training
transforms (flip, half body, scale, rotation, affine crop) and draws the crop the network sees,
so a wrong ``flip_perm`` shows up as left/right names on the wrong side.
"""
import argparse
import os
from typing import Any, Callable, Dict, List

import cv2
import numpy as np

from ppkpt.core.cli import exit_on_config_error
from ppkpt.core.workspace import build_ops, create, load_config
from ppkpt.metadata import KeypointMeta
from ppkpt.visualize import draw_keypoints

# Ops after which a record no longer holds an image with keypoints in pixel coordinates.
_STOP_OPS = ('GenerateTarget', 'NormalizeImage', 'Permute')


def geometric_ops(cfg: Dict[str, Any]) -> List[Callable]:
    """The train reader's sample transforms up to the first target/normalisation op."""
    ops = build_ops(cfg['TrainReader'].get('sample_transforms', []),
                    'TrainReader.sample_transforms', cfg)
    kept = []
    for op in ops:
        if type(op).__name__.startswith(_STOP_OPS):
            break
        kept.append(op)
    return kept


def draw_record(record: Dict[str, Any], meta: KeypointMeta) -> np.ndarray:
    """The record's image (BGR) with its keypoints, their names and the skeleton."""
    image = cv2.cvtColor(np.ascontiguousarray(record['image']), cv2.COLOR_RGB2BGR)
    joints = np.asarray(record['gt_joints'], np.float32)[:, :2]
    visible = np.asarray(record['joints_vis'], np.float32)[:, 0] > 0
    keypoints = np.concatenate([joints, visible[:, None].astype(np.float32)], axis=1)
    image = draw_keypoints(image, keypoints[None], meta.skeleton, 0.5, colors=meta.colors)
    for (x, y), name, shown in zip(joints, meta.names, visible):
        if shown:
            cv2.putText(image, name, (int(x) + 3, int(y) - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return image


@exit_on_config_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-o', '--opt', nargs='*', default=[])
    parser.add_argument('--mode', choices=['original', 'transformed'], default='original')
    parser.add_argument('--dataset', default='TrainDataset', help='TrainDataset or EvalDataset')
    parser.add_argument('--out', default='browse')
    parser.add_argument('--num', type=int, default=10, help='how many samples to draw')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    cfg = load_config(args.config, args.opt)
    meta = KeypointMeta.from_config(cfg)
    np.random.seed(args.seed)
    dataset = create(args.dataset, cfg)
    dataset.set_transform(geometric_ops(cfg) if args.mode == 'transformed' else [])
    os.makedirs(args.out, exist_ok=True)
    for index in range(min(args.num, len(dataset))):
        record = dataset[index]
        name = f'{args.mode}_{index:05d}_{os.path.basename(record["image_file"])}'
        path = os.path.join(args.out, os.path.splitext(name)[0] + '.png')
        cv2.imwrite(path, draw_record(record, meta))
    print(f'Wrote {min(args.num, len(dataset))} {args.mode} samples to {args.out}')


if __name__ == '__main__':
    main()
