"""Paddle Inference latency of exported models on this CPU, with and without oneDNN.

    python benchmarks/infer_latency.py [--configs CFG ...] [--batches 1 8] [--threads 2]
                                       [--repeats 15]

Each config is exported with random weights (speed does not depend on them) through
``tools/export_model.py``'s code path, then ``Predictor.run`` is timed at each batch size with
oneDNN on and off: median and minimum of ``--repeats`` runs after 3 warm-up runs, each setting
in a fresh process. Keypoint models read a (B, 3, H, W) crop batch; detectors also get
``im_shape`` and ``scale_factor``. For top-down keypoint models, batch 1 also runs the deploy
``KeypointDetector`` on one person box of a 960x540 frame and reports its stage timer: crop +
normalise (pre) and decode + map back (post) against the model time. The pipeline's FPS on a
video is ``benchmarks/video_fps.py``.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import export_config, run_child, table  # noqa: E402

DEFAULT_CONFIGS = [
    'configs/keypoint/hrnet/hrnet_w32_256x192.yml',
    'configs/keypoint/lite_hrnet/lite_hrnet_18_256x192_coco.yml',
    'configs/keypoint/lite_hrnet/lite_hrnet_30_256x192_coco.yml',
    'configs/keypoint/tiny_pose/tinypose_128x96.yml',
    'configs/keypoint/tiny_pose/tinypose_256x192.yml',
    'configs/detector/centernet_lite_320.yml',
    'configs/detector/centernet_lite_demo.yml',
]


def time_predictor(model_dir: str, input_hw: List[int], batch: int, mkldnn: bool, threads: int,
                   repeats: int) -> Dict[str, Any]:
    """Median/min ms of one predictor run; for a top-down keypoint model at batch 1 also the
    deploy pre/post-processing ms of one crop."""
    import ppkpt  # noqa: F401  (first: sets the CPU thread default before paddle)
    import numpy as np

    from deploy.python.predictor import Predictor

    predictor = Predictor(model_dir, cpu_threads=threads, enable_mkldnn=mkldnn, batch_size=batch)
    height, width = input_hw
    inputs = {'image': np.random.default_rng(0).standard_normal(
                  (batch, 3, height, width)).astype(np.float32),
              'im_shape': np.tile(np.float32([height, width]), (batch, 1)),
              'scale_factor': np.ones((batch, 2), np.float32)}
    feed = {name: inputs[name] for name in predictor.input_names}
    for _ in range(3):
        predictor.run(feed)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        predictor.run(feed)
        times.append((time.perf_counter() - tic) * 1000)
    result = {'model': os.path.basename(model_dir), 'batch': batch, 'onednn': mkldnn,
              'input_hw': [height, width], 'median_ms': float(np.median(times)),
              'min_ms': float(np.min(times))}
    if batch == 1 and predictor.infer_cfg.arch == 'TopDownHRNet':
        result.update(_pre_post_ms(model_dir, mkldnn, threads, repeats))
    return result


def _pre_post_ms(model_dir: str, mkldnn: bool, threads: int, repeats: int) -> Dict[str, float]:
    import numpy as np

    from deploy.python.keypoint_infer import KeypointDetector

    detector = KeypointDetector(model_dir, cpu_threads=threads, enable_mkldnn=mkldnn)
    frame = np.random.default_rng(1).integers(0, 255, (540, 960, 3), dtype=np.uint8)
    box = np.array([[300.0, 100.0, 460.0, 480.0]])
    for _ in range(3):
        detector.predict(frame, box)
    detector.timer.times.clear()
    for _ in range(repeats):
        detector.predict(frame, box)
    stages = detector.timer.summary()
    return {'pre_ms': stages['kpt_pre'], 'post_ms': stages['kpt_post'],
            'person_infer_ms': stages['kpt_infer']}


def run(configs: List[str], batches: List[int], threads: int, repeats: int
        ) -> List[Dict[str, Any]]:
    """Export every config, then time each (batch, oneDNN) setting in a fresh process."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            print(f'exporting and timing {config} ...', file=sys.stderr, flush=True)
            export = run_child(__file__, ['--export', config, tmp])
            height, width = export['image_shape'][1:]
            for batch in batches:
                for mkldnn in ('1', '0'):
                    results.append(run_child(__file__, [
                        '--threads', str(threads), '--repeats', str(repeats), '--child',
                        export['model_dir'], str(height), str(width), str(batch), mkldnn]))
    return results


def markdown(results: List[Dict[str, Any]]) -> str:
    """The results as a markdown table."""
    rows = []
    for r in results:
        pre_post = ['-', '-', '-']
        if 'pre_ms' in r:
            share = (r['pre_ms'] + r['post_ms']) / r['person_infer_ms']
            pre_post = [f"{r['pre_ms']:.2f}", f"{r['post_ms']:.2f}", f'{share:.1%}']
        rows.append([r['model'], 'x'.join(map(str, r['input_hw'])), r['batch'],
                     'on' if r['onednn'] else 'off', f"{r['median_ms']:.1f}",
                     f"{r['min_ms']:.1f}", f"{r['median_ms'] / r['batch']:.2f}", *pre_post])
    return table(['model', 'input HxW', 'batch', 'oneDNN', 'median ms', 'min ms',
                  'ms per image', 'pre ms', 'post ms', '(pre + post) / infer'], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS)
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--export', nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--child', nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        print(json.dumps(export_config(*args.export)))
    elif args.child:
        model_dir, height, width, batch, mkldnn = args.child
        print(json.dumps(time_predictor(model_dir, [int(height), int(width)], int(batch),
                                        mkldnn == '1', args.threads, args.repeats)))
    else:
        print(markdown(run(args.configs, args.batches, args.threads, args.repeats)))


if __name__ == '__main__':
    main()
