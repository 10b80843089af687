"""End-to-end FPS of detector + keypoints on a video, with the detector on every frame and in
fast mode, and what each costs in accuracy.

    python benchmarks/video_fps.py --det_config CFG --det_weights W \
        --keypoint_config CFG --keypoint_weights W [--size 640 360] [--people 2]
        [--frames 120] [--repeats 3] [--threads 2]

It renders a ``--size`` video with ``--people`` moving pliers and its per-frame ground truth
(``ppkpt.data.synthetic.generate_video``), exports both models (trained weights: fast mode
carries people forward from their keypoints, so random weights would not be timed honestly),
and runs ``deploy/python/det_keypoint_unite_infer.py --smooth --run_benchmark`` on it, with and
without ``--fast``, in Paddle Inference (oneDNN) and in onnxruntime (``--run_mode onnxruntime``),
alternating the four ``--repeats`` times in fresh processes. FPS counts the
whole run: decoding, both models, tracking, smoothing, drawing and writing the video. Each mode
reports its median FPS, the stage means of its median run, the people found per frame and
``tools/eval_video.py``'s keypoint error against the ground truth, and a second table splits
the median run's frame time into decoding (``read``), the two models (pre-processing, inference,
post-processing), filtering + tracking + smoothing, drawing, writing and the rest.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import export_config, run_child, table  # noqa: E402

MODES = {'Paddle Inference, every frame': ['--flip_test', 'False'],
         'Paddle Inference, fast': ['--fast'],
         'onnxruntime, every frame': ['--run_mode', 'onnxruntime', '--flip_test', 'False'],
         'onnxruntime, fast': ['--run_mode', 'onnxruntime', '--fast']}
"""Fast mode skips the flip test; so do the every-frame runs, to compare like with like."""


def run_once(det_dir: str, kpt_dir: str, video: str, out_dir: str, threads: int,
             det_threshold: float, extra: List[str]) -> Dict[str, Any]:
    """One pipeline run (this process): its benchmark report and video metrics."""
    from deploy.python.det_keypoint_unite_infer import main
    from deploy.python.video_metrics import evaluate_video

    document = main(['--det_model_dir', det_dir, '--keypoint_model_dir', kpt_dir,
                     '--video_file', video, '--output_dir', out_dir, '--smooth',
                     '--run_benchmark', '--cpu_threads', str(threads),
                     '--det_threshold', str(det_threshold), *extra])
    gt = os.path.join(os.path.dirname(video), 'demo_gt.json')
    metrics = evaluate_video(gt, document)
    people = sum(len(frame['persons']) for frame in document['frames'])
    return {**document['benchmark'], 'people_per_frame': people / len(document['frames']),
            'mean_error_px': metrics['mean_error_px'], 'num_gt': metrics['num_gt'],
            'num_pred': metrics['num_pred'], 'jitter_px': metrics['jitter_px']}


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Render the video, export both models and time each mode; returns the medians."""
    from ppkpt.data.synthetic import generate_video

    with tempfile.TemporaryDirectory() as tmp:
        video = generate_video(tmp, num_frames=args.frames, fps=30, size=args.size, seed=7,
                               num_objects=args.people)
        det_dir = export_config(args.det_config, tmp, args.det_weights, onnx=True)['model_dir']
        kpt_dir = export_config(args.keypoint_config, tmp, args.keypoint_weights,
                                onnx=True)['model_dir']
        runs: Dict[str, List[Dict[str, Any]]] = {mode: [] for mode in MODES}
        for repeat in range(args.repeats):
            for mode, extra in MODES.items():
                print(f'{mode}, run {repeat + 1} of {args.repeats} ...', file=sys.stderr,
                      flush=True)
                runs[mode].append(run_child(__file__, [
                    '--child', det_dir, kpt_dir, video, os.path.join(tmp, 'out'),
                    '--threads', str(args.threads), '--det_threshold',
                    str(args.det_threshold), '--', *extra]))
    return {'size': list(args.size), 'people': args.people, 'frames': args.frames,
            'modes': {mode: _median_run(results) for mode, results in runs.items()}}


def _median_run(results: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The run with the median FPS, with every run's FPS beside it."""
    ordered = sorted(results, key=lambda r: r['fps'])
    return {**ordered[len(ordered) // 2], 'all_fps': [r['fps'] for r in results],
            'median_fps': statistics.median(r['fps'] for r in results)}


STAGES = {'read': ['read'], 'detector': ['det_pre', 'det_infer', 'det_post'],
          'keypoints': ['kpt_pre', 'kpt_infer', 'kpt_post'], 'track + smooth': ['track'],
          'draw': ['draw'], 'write': ['write']}
"""The columns of the time breakdown and the pipeline stages each one sums."""
REAL_TIME_FLOORS = {'onnxruntime, fast': 40.0, 'onnxruntime, every frame': 25.0}
"""The real-time targets (FPS on 2 cores) of TinyPose-128x96 with the light detector."""


def frame_breakdown(report: Dict[str, Any]) -> Dict[str, float]:
    """ms per frame of each of :data:`STAGES` and of the rest of the frame time (``other``)."""
    parts = {column: sum(report.get(f'{stage}_ms_per_frame', 0.0) for stage in stages)
             for column, stages in STAGES.items()}
    parts['other'] = 1000.0 / report['fps'] - sum(parts.values())
    return parts


def markdown(result: Dict[str, Any]) -> str:
    """Two markdown tables: FPS and accuracy of each mode, and where its frame time goes."""
    rows, breakdown = [], []
    for mode, r in result['modes'].items():
        rows.append([mode, f"{r['median_fps']:.1f}", ', '.join(f'{f:.1f}' for f in r['all_fps']),
                     f"{r.get('det_infer_ms', 0.0):.1f}", f"{r.get('kpt_infer_ms', 0.0):.1f}",
                     f"{r['people_per_frame']:.2f}", f"{r['num_pred']} / {r['num_gt']}",
                     f"{r['mean_error_px']:.2f}", f"{r['peak_memory_mb']:.0f}"])
        parts = frame_breakdown(r)
        frame_ms = 1000.0 / r['fps']
        breakdown.append([mode, f'{frame_ms:.1f}'] + [
            f'{ms:.1f} ({ms / frame_ms:.0%})' for ms in parts.values()])
    speed = table(['mode', 'FPS (median)', 'FPS (each run)', 'det infer ms / call',
                   'kpt infer ms / call', 'people / frame', 'reported / true',
                   'keypoint error px', 'peak MiB'], rows)
    time_goes = table(['mode (median run)', 'ms / frame'] + [f'{c} ms' for c in STAGES] +
                      ['other ms'], breakdown)
    floors = '; '.join(
        f"{mode}: {result['modes'][mode]['median_fps']:.1f} FPS against a floor of {floor:.0f} "
        f"({'met' if result['modes'][mode]['median_fps'] >= floor else 'NOT met'})"
        for mode, floor in REAL_TIME_FLOORS.items() if mode in result['modes'])
    return (f'{speed}\n\nReal-time floors (median FPS): {floors}.\n\n'
            f'Where the time of a frame goes (ms per frame and share):\n\n{time_goes}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--det_config', default='configs/detector/centernet_lite_demo.yml')
    parser.add_argument('--det_weights',
                        default='demo_output/centernet_lite_demo/model_final.pdparams')
    parser.add_argument('--keypoint_config', default='configs/keypoint/demo/tinypose_plier_demo.yml')
    parser.add_argument('--keypoint_weights',
                        default='demo_output/tinypose_plier_demo/model_final.pdparams')
    parser.add_argument('--size', type=int, nargs=2, default=[640, 360])
    parser.add_argument('--people', type=int, default=2)
    parser.add_argument('--frames', type=int, default=120)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--det_threshold', type=float, default=0.2)
    parser.add_argument('--child', nargs=4, default=None, help=argparse.SUPPRESS)
    parser.add_argument('extra', nargs='*', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(*args.child, args.threads, args.det_threshold, args.extra)))
        return
    for weights in (args.det_weights, args.keypoint_weights):
        if not os.path.isfile(weights):
            parser.error(f'{weights} not found: train the models first (scripts/demo.sh)')
    print(markdown(run(args)))


if __name__ == '__main__':
    main()
