"""Split a COCO json into a train and a val file, reproducibly.

    python tools/dataset/split_coco.py in.json train.json val.json --ratio 0.7 --seed 0 \\
        [--having-annotations]

Images are shuffled with ``--seed`` and the first ``round(ratio * N)`` go to the train file;
every annotation follows its image. Both files keep the input's ``info``, ``licenses`` and
``categories`` and list images and annotations in the input's order, so the same input, ratio
and seed always give byte-identical files. ``--having-annotations`` leaves out the images that
have no annotation (negatives) before splitting.
"""
import argparse
import random
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ppkpt.data.coco import CocoFile, load_json, parse_coco, save_coco

from _common import run

SHARED_KEYS = ('info', 'licenses', 'categories')
"""Top-level keys copied unchanged into both outputs."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='COCO json to split')
    parser.add_argument('train', help='train json to write')
    parser.add_argument('val', help='val json to write')
    parser.add_argument('--ratio', type=float, default=0.8,
                        help='share of the images that go to train (0 < ratio < 1)')
    parser.add_argument('--seed', type=int, default=0, help='shuffle seed')
    parser.add_argument('--having-annotations', action='store_true',
                        help='leave out images without annotations')
    args = parser.parse_args(argv)
    if not 0.0 < args.ratio < 1.0:
        parser.error(f'--ratio must be between 0 and 1, got {args.ratio}')
    return args


def split_image_ids(coco: CocoFile, ratio: float, seed: int, having_annotations: bool
                    ) -> Tuple[List[int], List[int]]:
    """The train and val image ids, each in file order.

    Args:
        coco: the parsed input.
        ratio: share of the images for train.
        seed: shuffle seed.
        having_annotations: consider only images that have at least one annotation.

    Raises:
        ValueError: when fewer than 2 images are left to split.
    """
    ids = [im_id for im_id in coco.images if coco.annotations[im_id] or not having_annotations]
    if len(ids) < 2:
        raise ValueError(f'{coco.source}: {len(ids)} image(s) to split; a split needs at least 2')
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    num_train = min(max(round(ratio * len(ids)), 1), len(ids) - 1)
    train = set(shuffled[:num_train])
    return [i for i in ids if i in train], [i for i in ids if i not in train]


def subset(data: Dict[str, Any], coco: CocoFile, image_ids: Sequence[int]) -> Dict[str, Any]:
    """The input restricted to ``image_ids``: shared keys, their images and annotations."""
    out = {key: data[key] for key in SHARED_KEYS if key in data}
    out['images'] = [coco.images[i] for i in image_ids]
    out['annotations'] = [ann for i in image_ids for ann in coco.annotations[i]]
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit code."""
    args = parse_args(argv)
    data = load_json(args.input, 'split_coco')
    coco = parse_coco(data, args.input)
    train_ids, val_ids = split_image_ids(coco, args.ratio, args.seed, args.having_annotations)
    for path, ids in ((args.train, train_ids), (args.val, val_ids)):
        written = save_coco(subset(data, coco, ids), path)
        print(f'{path}: {len(written.images)} images, {written.num_annotations} annotations')
    return 0


if __name__ == '__main__':
    sys.exit(run(main))
