"""Paddle Inference latency of exported HRNet-W32 256x192 on this CPU, with and without oneDNN.

    python benchmarks/infer_latency.py [--threads 2] [--repeats 15]

It exports a randomly initialised HRNet-W32 256x192 (speed does not depend on the weights) with
``tools/export_model.py``'s code path, then times ``Predictor.run`` at batch 1 and 8 with oneDNN
on and off (median and minimum of the repeats, after warm-up). At batch 1 it also runs the
deploy ``KeypointDetector`` on one person box of a 960x540 frame and reports its own stage
timer: crop + normalise (pre), predictor (infer) and decode + map back (post). Each setting
runs in a fresh process. The unite pipeline's FPS on a video comes from
``det_keypoint_unite_infer.py --run_benchmark`` (see benchmarks/README.md).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = os.path.join(ROOT, 'configs/keypoint/hrnet/hrnet_w32_256x192.yml')


def export(out_dir: str) -> str:
    """Export a random-weight HRNet-W32 256x192; returns the model directory."""
    from ppkpt.core.workspace import load_config
    from ppkpt.engine.exporter import export_model, infer_cfg_from_config
    from ppkpt.engine.trainer import Trainer

    cfg = load_config(CONFIG)  # complete: metadata and codec filled, as tools/export_model.py
    model = Trainer(cfg, 'test').model
    infer_cfg = infer_cfg_from_config(cfg)  # writes `codec:`, which KeypointDetector rebuilds
    model_dir = os.path.join(out_dir, 'hrnet_w32_256x192')
    export_model(model, infer_cfg, cfg['TestReader']['inputs_def']['image_shape'], model_dir)
    return model_dir


def time_predictor(model_dir: str, batch: int, mkldnn: bool, threads: int, repeats: int) -> dict:
    """Median/min ms of one predictor run, plus pre/post-processing ms for one crop."""
    import ppkpt  # noqa: F401  (first: sets the CPU thread default before paddle)
    import numpy as np

    from deploy.python.keypoint_infer import KeypointDetector
    from deploy.python.predictor import Predictor

    predictor = Predictor(model_dir, cpu_threads=threads, enable_mkldnn=mkldnn, batch_size=batch)
    image = np.random.default_rng(0).standard_normal((batch, 3, 256, 192)).astype(np.float32)
    for _ in range(3):
        predictor.run({'image': image})
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        predictor.run({'image': image})
        times.append((time.perf_counter() - tic) * 1000)
    result = {'batch': batch, 'onednn': mkldnn, 'median_ms': float(np.median(times)),
              'min_ms': float(np.min(times))}
    if batch == 1:
        detector = KeypointDetector(model_dir, cpu_threads=threads, enable_mkldnn=mkldnn)
        frame = np.random.default_rng(1).integers(0, 255, (540, 960, 3), dtype=np.uint8)
        box = np.array([[300.0, 100.0, 460.0, 480.0]])
        for _ in range(3):
            detector.predict(frame, box)
        detector.timer.times.clear()
        for _ in range(repeats):
            detector.predict(frame, box)
        stages = detector.timer.summary()
        result.update(pre_ms=stages['kpt_pre'], post_ms=stages['kpt_post'],
                      person_infer_ms=stages['kpt_infer'])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--child', nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model_dir, batch, mkldnn = args.child
        print(json.dumps(time_predictor(model_dir, int(batch), mkldnn == '1', args.threads,
                                        args.repeats)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = export(tmp)
        print('| batch | oneDNN | median ms | min ms | ms per image | pre ms | post ms | '
              '(pre + post) / infer |')
        print('|---|---|---|---|---|---|---|---|')
        for batch in (1, 8):
            for mkldnn in ('1', '0'):
                out = subprocess.run([sys.executable, __file__, '--threads', str(args.threads),
                                      '--repeats', str(args.repeats), '--child', model_dir,
                                      str(batch), mkldnn], capture_output=True, text=True,
                                     check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"| {batch} | {'on' if r['onednn'] else 'off'} | {r['median_ms']:.1f} | "
                      f"{r['min_ms']:.1f} | {r['median_ms'] / batch:.1f} | {_pre_post(r)} |")


def _pre_post(result: dict) -> str:
    """Table cells for the pre/post-processing columns ('-' where not measured)."""
    if 'pre_ms' not in result:
        return '- | - | -'
    share = (result['pre_ms'] + result['post_ms']) / result['person_infer_ms']
    return f"{result['pre_ms']:.2f} | {result['post_ms']:.2f} | {share:.1%}"


if __name__ == '__main__':
    main()
