"""Run every benchmark and write the tables to ``docs/benchmarks.md``.

    python benchmarks/run_all.py [--out docs/benchmarks.md] [--iters 3] [--repeats 15]
                                 [--video_repeats 3] [--skip learning train latency video weak]

The sections: TinyPose-128x96 trained on the demo data and its held-out AP (``learning.py``,
which saves the weights to ``demo_output/tinypose_plier_demo``), training images/s of each
keypoint config (``train_throughput.py``), exported latency at batch 1 and 8 with and without
oneDNN, keypoint models and detectors (``infer_latency.py``), end-to-end FPS of detector +
keypoints on a 640x360 video with 2 people, smoothing on, with the detector on every frame and in
fast mode (``video_fps.py``: that TinyPose and the detector ``scripts/demo.sh`` trains), and the
demo video under a weak detector (``weak_detector.py``, on ``scripts/demo.sh``'s exports). Every
section states its method, and the page starts with the machine. Figures are medians; the
machine is shared, so each page is one run's snapshot.
"""
import argparse
import datetime
import os
import re
import sys
from types import SimpleNamespace
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import (infer_latency, learning, train_throughput, video_fps,  # noqa: E402
                        weak_detector)
from benchmarks.common import ROOT, machine, table  # noqa: E402

SECTIONS = ('learning', 'train', 'latency', 'video', 'weak')
DEMO = os.path.join(ROOT, 'demo_output')


def _learning_section() -> List[str]:
    result = learning.run(learning.DEFAULT_CONFIG, DEMO, 0)
    stats = result['stats']['keypoint']
    return ['## Learning the demo data', '',
            f'`benchmarks/learning.py`: `{learning.DEFAULT_CONFIG}` (TinyPose-128x96: LiteHRNet '
            f'wider_naive, UDP + DARK, AID) trained from scratch with seed 0 on the 400 demo '
            f'images, then evaluated on the 60 held-out ones (COCO OKS, ground-truth boxes, '
            f'flip test).', '',
            table(['training', 'evaluation', 'AP', 'AP .5', 'AP .75', 'AR'],
                  [[_minutes(result['train_seconds']), _minutes(result['eval_seconds']),
                    f'{stats[0]:.3f}', f'{stats[1]:.3f}', f'{stats[2]:.3f}',
                    f'{stats[5]:.3f}']]), '']


def _minutes(seconds: float) -> str:
    return f'{int(seconds // 60)} min {int(seconds % 60)} s'


def _train_section(iters: int) -> List[str]:
    results = train_throughput.run(train_throughput.DEFAULT_CONFIGS, 8, 2, iters, 1)
    return ['## Training', '',
            f'`benchmarks/train_throughput.py`: full training iterations (forward, loss, '
            f'backward, Adam) on one real batch from each config\'s own train pipeline on a '
            f'small fixture, median of {iters} after 1 warm-up, one fresh process per config; '
            f'"data share" is the loader\'s time per batch against the step.', '',
            train_throughput.markdown(results), '']


def _latency_section(repeats: int) -> List[str]:
    results = infer_latency.run(infer_latency.DEFAULT_CONFIGS, [1, 8], 2, repeats)
    return ['## Exported latency', '',
            f'`benchmarks/infer_latency.py`: random-weight exports, `Predictor.run` with 2 CPU '
            f'threads, median and minimum of {repeats} runs after 3 warm-up runs, one fresh '
            f'process per setting. Pre/post: the deploy `KeypointDetector` on one box of a '
            f'960x540 frame.', '', infer_latency.markdown(results), '']


def _video_section(repeats: int) -> List[str]:
    args = SimpleNamespace(
        det_config='configs/detector/centernet_lite_demo.yml',
        det_weights=os.path.join(DEMO, 'centernet_lite_demo/model_final.pdparams'),
        keypoint_config='configs/keypoint/demo/tinypose_plier_demo.yml',
        keypoint_weights=os.path.join(DEMO, 'tinypose_plier_demo/model_final.pdparams'),
        size=[640, 360], people=2, frames=120, repeats=repeats, threads=2, det_threshold=0.2)
    for weights in (args.det_weights, args.keypoint_weights):
        if not os.path.isfile(weights):
            return ['## Detector + keypoints on a video', '',
                    f'Not measured: {os.path.relpath(weights, ROOT)} is missing (run `bash '
                    f'scripts/demo.sh` and the '
                    f'learning section first).', '']
    result = video_fps.run(args)
    return ['## Detector + keypoints on a video', '',
            f'`benchmarks/video_fps.py`: `det_keypoint_unite_infer.py --smooth --run_benchmark` '
            f'on a rendered 640x360, 30 fps, {args.frames}-frame video with {args.people} '
            f'moving objects, with the demo\'s trained CenterNet-lite (128x96 input) and '
            f'TinyPose-128x96, both exported, 2 threads, in Paddle Inference (oneDNN) and in '
            f'onnxruntime (`--run_mode onnxruntime`); the four runs alternate {repeats} times in '
            f'fresh processes. Fast mode: the detector on every 3rd frame, carried crops, one '
            f'keypoint call per frame, no flip test (the every-frame runs are also without '
            f'it). FPS counts the whole run (decode, both models, tracking, '
            f'smoothing, drawing, writing the video). Keypoint error: `tools/eval_video.py` '
            f'against the rendered ground truth.', '', video_fps.markdown(result), '']


def _weak_section() -> List[str]:
    models = [os.path.join(DEMO, 'inference', name)
              for name in ('centernet_lite_demo', 'hrnet_plier_demo')]
    video = os.path.join(ROOT, 'dataset/demo/video/demo.mp4')
    title = '## The demo video under a weak detector'
    missing = [os.path.relpath(path, ROOT) for path in models + [video]
               if not os.path.exists(path)]
    if missing:
        return [title, '', f'Not measured: {missing} missing (run `bash scripts/demo.sh`).', '']
    metrics = weak_detector.run(*models, video, 0.05)
    failures = weak_detector.check(metrics)
    return [title, '',
            '`benchmarks/weak_detector.py`: `det_keypoint_unite_infer.py --det_threshold 0.05` '
            'with the command line\'s stability defaults on the 90-frame demo video, with the '
            'demo\'s exported detector and HRNet-W18 (Paddle Inference, oneDNN), raw, '
            '`--smooth` and `--smooth --fast`, scored by `tools/eval_video.py`. Bounds: at most '
            '1.1x the true number of people, jitter -40 % or better at +5 % keypoint error or '
            'less with `--smooth`, fast mode\'s error within 10 % of the every-frame '
            '`--smooth` run\'s. Changes in brackets are against the raw run.', '',
            weak_detector.markdown(metrics),
            '', 'All bounds hold.' if not failures else 'Fails: ' + '; '.join(failures), '']


def _sections_of(path: str) -> Dict[str, str]:
    """The sections of an existing page by name, so a run with ``--skip`` keeps the others."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        parts = re.split(r'^<!-- section: (\w+) -->\n', f.read(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs/benchmarks.md'))
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--video_repeats', type=int, default=3)
    parser.add_argument('--skip', nargs='*', default=[], choices=SECTIONS)
    args = parser.parse_args()
    lines = ['# Benchmarks', '',
             f'Written by `python benchmarks/run_all.py` on {datetime.date.today()} (sections '
             f'skipped with `--skip` are kept from the previous page). Machine: {machine()}.', '']
    builders = {'learning': _learning_section,
                'weak': _weak_section,
                'train': lambda: _train_section(args.iters),
                'latency': lambda: _latency_section(args.repeats),
                'video': lambda: _video_section(args.video_repeats)}
    kept = _sections_of(args.out)
    for name in SECTIONS:
        if name not in args.skip:
            lines += [f'<!-- section: {name} -->'] + builders[name]()
        elif name in kept:
            lines += [f'<!-- section: {name} -->', kept[name]]
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
