"""Time per image of the bottom-up and the top-down flow on CPU for 1, 5 and 10 objects.

    python benchmarks/bottomup_vs_topdown.py [--people 1 5 10] [--repeats 10] [--threads 2] \
        [--bottomup_weights W] [--topdown_weights W] [--detector_weights W]

Method. The three demo models are exported as ``tools/export_model.py`` does
(``configs/keypoint/demo/higherhrnet_plier_demo.yml``, ``configs/keypoint/demo/
hrnet_plier_demo.yml``, ``configs/detector/centernet_lite_demo.yml``) with the given weights
(random when not given: the network time does not depend on them, but the bottom-up grouping
time does, so pass trained bottom-up weights). Each image is a 256x192 demo-style scene with N
pliers on a grid. Per image, with the deploy classes (Paddle Inference, oneDNN, no flip test):

* top-down: ``Detector.predict(image)`` + ``KeypointDetector.predict(image, boxes)`` on the N
  ground-truth boxes, i.e. a detector that finds exactly the N objects (its own cost does not
  depend on what it finds), as ``TopDownPipeline.process`` runs them (crops batched by 8);
* bottom-up: ``BottomUpDetector.predict(image)``: one pass on the whole image, then grouping.

The median over ``--repeats`` runs of each image (after one warm-up run) is reported in ms.
"""
import argparse
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIGS = {'bottomup': 'configs/keypoint/demo/higherhrnet_plier_demo.yml',
           'topdown': 'configs/keypoint/demo/hrnet_plier_demo.yml',
           'detector': 'configs/detector/centernet_lite_demo.yml'}
SIZE = (256, 192)
KEYPOINT_BATCH = 8


def export(name: str, weights: Optional[str], out_dir: str) -> str:
    """Export the demo model ``name`` (random weights unless ``weights``); its directory."""
    from ppkpt.core.workspace import load_config
    from ppkpt.engine.exporter import export_model, infer_cfg_from_config
    from ppkpt.engine.trainer import Trainer

    cfg = load_config(os.path.join(ROOT, CONFIGS[name]))
    trainer = Trainer(cfg, 'test')
    if weights:
        trainer.load_weights(weights)
    return export_model(trainer.model, infer_cfg_from_config(cfg),
                        cfg['TestReader']['inputs_def']['image_shape'],
                        os.path.join(out_dir, name))


def scene(count: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """A (H, W, 3) uint8 RGB scene with ``count`` pliers on a grid, and their (count, 4) xyxy
    boxes."""
    import cv2

    from ppkpt.data import synthetic

    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(count * SIZE[0] / SIZE[1])))
    rows = int(np.ceil(count / cols))
    cell_w, cell_h = SIZE[0] / cols, SIZE[1] / rows
    image = synthetic.render_background(rng, SIZE)
    boxes = []
    for index in range(count):
        center = ((index % cols + 0.5) * cell_w, (index // cols + 0.5) * cell_h)
        length = 0.8 * min(cell_w, cell_h)
        kpts = synthetic.plier_keypoints(center, length, rng.uniform(0, 360), rng.uniform(0, 1))
        plier = synthetic.Plier(kpts, synthetic.random_style(rng, length))
        synthetic.draw_plier(image, plier)
        x, y, w, h = synthetic.mask_bbox(synthetic.plier_mask(plier, SIZE))
        boxes.append([x, y, x + w, y + h])
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), np.asarray(boxes)


def median_ms(run, repeats: int) -> float:
    """Median wall time of ``run()`` in ms, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run()
        times.append((time.perf_counter() - tic) * 1000)
    return float(np.median(times))


def measure(dirs: Dict[str, str], people: List[int], repeats: int, threads: int
            ) -> List[Dict[str, float]]:
    """One row per object count: detector, top-down keypoint and bottom-up ms per image."""
    from deploy.python.bottomup_infer import BottomUpDetector
    from deploy.python.det_infer import Detector
    from deploy.python.keypoint_infer import KeypointDetector

    detector = Detector(dirs['detector'], cpu_threads=threads)
    topdown = KeypointDetector(dirs['topdown'], batch_size=KEYPOINT_BATCH, cpu_threads=threads,
                               flip_test=False)
    bottomup = BottomUpDetector(dirs['bottomup'], cpu_threads=threads, flip_test=False)
    rows = []
    for count in people:
        image, boxes = scene(count, seed=count)
        found = len(bottomup.predict(image)[0])
        row = {'people': count, 'bottomup_found': found,
               'detector_ms': median_ms(lambda: detector.predict(image), repeats),
               'topdown_kpt_ms': median_ms(lambda: topdown.predict(image, boxes), repeats),
               'bottomup_ms': median_ms(lambda: bottomup.predict(image), repeats)}
        row['topdown_ms'] = row['detector_ms'] + row['topdown_kpt_ms']
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--people', type=int, nargs='+', default=[1, 5, 10])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=2)
    for name in CONFIGS:
        parser.add_argument(f'--{name}_weights', default=None)
    args = parser.parse_args()
    import ppkpt  # noqa: F401  (first: sets the CPU thread default before paddle)

    with tempfile.TemporaryDirectory() as out_dir:
        dirs = {name: export(name, getattr(args, f'{name}_weights'), out_dir)
                for name in CONFIGS}
        rows = measure(dirs, args.people, args.repeats, args.threads)
    print('| objects | top-down ms (detector + keypoints) | bottom-up ms | top-down / '
          'bottom-up | bottom-up people found |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['people']} | {r['topdown_ms']:.1f} ({r['detector_ms']:.1f} + "
              f"{r['topdown_kpt_ms']:.1f}) | {r['bottomup_ms']:.1f} | "
              f"{r['topdown_ms'] / r['bottomup_ms']:.2f} | {r['bottomup_found']} |")


if __name__ == '__main__':
    main()
