"""Evaluate video pose results against per-frame ground truth.

    python tools/eval_video.py --gt GT.json --pred output/walk_pose.json [--pck_thr 0.05]

GT is a COCO keypoint file whose images carry a 0-based ``frame`` field (annotations may carry
``track_id``); PRED is the JSON of ``deploy/python/det_keypoint_unite_infer.py --save_res``.
Prints mean keypoint error (px), PCK@pck_thr (fraction of the GT box's longer side) and jitter
(mean frame-to-frame acceleration, px). See docs/deploy.md.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deploy.python.video_metrics import evaluate_video  # noqa: E402


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Parse arguments, evaluate and print the metrics as JSON; returns them."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt', required=True, help='COCO keypoint json with images[].frame')
    parser.add_argument('--pred', required=True, help='det_keypoint_unite_infer result json')
    parser.add_argument('--pck_thr', type=float, default=0.05,
                        help='PCK threshold as a fraction of max(w, h) of the GT box')
    args = parser.parse_args(argv)
    for flag, path in (('--gt', args.gt), ('--pred', args.pred)):
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{flag} file not found: {path}')
    metrics = evaluate_video(args.gt, args.pred, args.pck_thr)
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == '__main__':
    main()
