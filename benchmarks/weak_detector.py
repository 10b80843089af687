"""The pipeline under a weak detector: the demo video at a low box threshold, raw, smoothed
and in fast mode, checked against the acceptance bounds.

    python benchmarks/weak_detector.py [--det_model_dir demo_output/inference/centernet_lite_demo]
        [--keypoint_model_dir demo_output/inference/hrnet_plier_demo]
        [--video dataset/demo/video/demo.mp4] [--det_threshold 0.05]

It runs ``det_keypoint_unite_infer.py`` with the command line's stability defaults (pose
OKS-NMS, ``--min_joints``, track merging) on the demo video: raw, with ``--smooth``, and with
``--smooth --fast`` (Paddle Inference in each). It scores the runs with ``tools/eval_video.py``
against the video's ground truth and checks: people reported <= 1.1 x the true count, smoothing
lowers jitter by >= 40 % with <= 5 % more keypoint error, and fast mode's keypoint error is
within 10 % of the every-frame smoothed run's. It prints the table and exits with 1 when a
bound fails. It needs the models ``scripts/demo.sh`` trains and exports; in CI,
``tests/deploy/test_weak_detector.py`` replays these models' recorded outputs instead (all but
the fast-mode bound).
"""
import argparse
import os
import sys
import tempfile
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import ROOT, table  # noqa: E402

MAX_PEOPLE_RATIO = 1.1
MIN_JITTER_DROP = 0.40
MAX_ERROR_RISE = 0.05
MAX_FAST_ERROR_RISE = 0.10
RUNS = (('raw', []), ('--smooth', ['--smooth']), ('--smooth --fast', ['--smooth', '--fast']))


def run(det_model_dir: str, keypoint_model_dir: str, video: str, det_threshold: float
        ) -> Dict[str, Dict[str, Any]]:
    """The eval_video metrics of each of :data:`RUNS`."""
    from deploy.python.det_keypoint_unite_infer import main
    from deploy.python.video_metrics import evaluate_video

    gt = os.path.join(os.path.dirname(video), 'demo_gt.json')
    metrics = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, extra) in enumerate(RUNS):
            document = main(['--det_model_dir', det_model_dir, '--keypoint_model_dir',
                             keypoint_model_dir, '--video_file', video, '--output_dir',
                             os.path.join(tmp, str(index)), '--det_threshold',
                             str(det_threshold), *extra])
            metrics[name] = evaluate_video(gt, document)
    return metrics


def check(metrics: Dict[str, Dict[str, Any]]) -> List[str]:
    """The acceptance bounds that fail (empty when all hold)."""
    raw, smooth = metrics['raw'], metrics['--smooth']
    failures = []
    for name, m in metrics.items():
        if m['num_pred'] > MAX_PEOPLE_RATIO * m['num_gt']:
            failures.append(f"{name}: {m['num_pred']} people reported for {m['num_gt']}")
    drop = 1.0 - smooth['jitter_px'] / raw['jitter_px']
    if drop < MIN_JITTER_DROP:
        failures.append(f'smoothing lowers jitter by {drop:.0%} only')
    rise = smooth['mean_error_px'] / raw['mean_error_px'] - 1.0
    if rise > MAX_ERROR_RISE:
        failures.append(f'smoothing raises the keypoint error by {rise:.1%}')
    fast_rise = metrics['--smooth --fast']['mean_error_px'] / smooth['mean_error_px'] - 1.0
    if fast_rise > MAX_FAST_ERROR_RISE:
        failures.append(f'fast mode raises the keypoint error by {fast_rise:.1%}')
    return failures


def markdown(metrics: Dict[str, Dict[str, Any]]) -> str:
    """Both runs as a markdown table, changes against the raw run in brackets."""
    raw = metrics['raw']
    rows = []
    for name, m in metrics.items():
        error_change = m['mean_error_px'] / raw['mean_error_px'] - 1.0
        jitter_change = m['jitter_px'] / raw['jitter_px'] - 1.0
        rows.append([name, f"{m['num_pred']} / {m['num_gt']}", m['num_matched'],
                     f"{m['mean_error_px']:.2f} ({error_change:+.1%})", f"{m['pck']:.3f}",
                     f"{m['jitter_px']:.2f} ({jitter_change:+.0%})"])
    return table(['run', 'reported / true', 'matched', 'keypoint error px', 'PCK@0.05',
                  'jitter px/frame²'], rows)


def build_parser(description: str) -> argparse.ArgumentParser:
    """The flags of a run on the demo video with the demo's exported models (defaults: what
    ``scripts/demo.sh`` writes)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--det_model_dir',
                        default=os.path.join(ROOT, 'demo_output/inference/centernet_lite_demo'))
    parser.add_argument('--keypoint_model_dir',
                        default=os.path.join(ROOT, 'demo_output/inference/hrnet_plier_demo'))
    parser.add_argument('--video', default=os.path.join(ROOT, 'dataset/demo/video/demo.mp4'))
    parser.add_argument('--det_threshold', type=float, default=0.05)
    return parser


def main() -> None:
    args = build_parser(__doc__).parse_args()
    metrics = run(args.det_model_dir, args.keypoint_model_dir, args.video, args.det_threshold)
    print(markdown(metrics))
    failures = check(metrics)
    for failure in failures:
        print(f'FAIL: {failure}')
    raise SystemExit(1 if failures else 0)


if __name__ == '__main__':
    main()
