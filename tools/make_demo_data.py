"""Generate the synthetic plier demo dataset (train and val splits plus a demo video).

    python tools/make_demo_data.py --out dataset/demo [--num_train 400 --num_val 60 --seed 0]

A second run with the same settings does nothing: the settings are kept in
``<out>/demo_stamp.json`` and compared before anything is generated.
"""
import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional

from ppkpt.core.logger import setup_logger
from ppkpt.data.synthetic import generate_demo_dataset

STAMP_NAME = 'demo_stamp.json'
STAMP_VERSION = 1


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='dataset/demo', help='dataset root to write')
    parser.add_argument('--num_train', type=int, default=400, help='train images')
    parser.add_argument('--num_val', type=int, default=60, help='val images')
    parser.add_argument('--image_size', type=int, nargs=2, default=[256, 192],
                        metavar=('W', 'H'), help='still image size')
    parser.add_argument('--num_frames', type=int, default=90, help='frames of the demo video')
    parser.add_argument('--seed', type=int, default=0, help='base random seed')
    return parser.parse_args(argv)


def settings_of(args: argparse.Namespace) -> Dict[str, Any]:
    """The settings that decide the generated files, as stored in the stamp."""
    return {'version': STAMP_VERSION, 'num_train': args.num_train, 'num_val': args.num_val,
            'image_size': list(args.image_size), 'num_frames': args.num_frames,
            'seed': args.seed}


def read_stamp(out_dir: str) -> Optional[Dict[str, Any]]:
    """The stamp in ``out_dir``, or None when there is none or it cannot be parsed."""
    path = os.path.join(out_dir, STAMP_NAME)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError:
        return None


def outputs_exist(stamp: Dict[str, Any], out_dir: str) -> bool:
    """True when every file the stamp lists, and every image its splits list, is in ``out_dir``."""
    files = stamp.get('files', {})
    if not files or not all(os.path.isfile(os.path.join(out_dir, p)) for p in files.values()):
        return False
    return all(split in files and split_images_exist(out_dir, split, files[split])
               for split in ('train', 'val'))


def split_images_exist(out_dir: str, split: str, anno_path: str) -> bool:
    """True when every image of a split's annotation json is in ``out_dir/images/<split>``."""
    try:
        with open(os.path.join(out_dir, anno_path), encoding='utf-8') as f:
            images = json.load(f)['images']
    except (json.JSONDecodeError, KeyError):
        return False
    image_dir = os.path.join(out_dir, 'images', split)
    return all(os.path.isfile(os.path.join(image_dir, im['file_name'])) for im in images)


def main(argv: Optional[List[str]] = None) -> Dict[str, str]:
    """Generate the dataset unless ``--out`` already holds one made with the same settings.

    Returns:
        dict of generated paths (``train``, ``val``, ``video``, ``video_gt``) relative to
        ``--out``.
    """
    args = parse_args(argv)
    logger = setup_logger('ppkpt.make_demo_data')
    settings = settings_of(args)
    stamp = read_stamp(args.out)
    if stamp is not None and stamp.get('settings') == settings and outputs_exist(stamp, args.out):
        logger.info('%s already holds the demo dataset with these settings; nothing to do',
                    args.out)
        return stamp['files']
    start = time.time()
    paths = generate_demo_dataset(args.out, num_train=args.num_train, num_val=args.num_val,
                                  image_size=args.image_size, num_frames=args.num_frames,
                                  seed=args.seed)
    files = {key: os.path.relpath(path, args.out) for key, path in paths.items()}
    with open(os.path.join(args.out, STAMP_NAME), 'w', encoding='utf-8') as f:
        json.dump({'settings': settings, 'files': files}, f, indent=2)
    logger.info('wrote %d train + %d val images and a %d-frame video to %s in %.1f s',
                args.num_train, args.num_val, args.num_frames, args.out, time.time() - start)
    return files


if __name__ == '__main__':
    main()
