"""Run a trained model on images, draw the skeleton and save a JSON of the keypoints.

Top-down models use the whole image as the object box.

    python tools/infer.py -c CONFIG -o weights=PATH --infer_img a.jpg [--output_dir output]
    python tools/infer.py -c CONFIG -o weights=PATH --infer_dir images/
"""
import json
import logging
import os
from typing import Any, Dict, List

import cv2
import numpy as np
import paddle

from ppkpt.core.cli import ArgsParser
import ppkpt.components  # noqa: F401  (registers every component)
from ppkpt.core.workspace import create
from ppkpt.data.datasets.image_folder import ImageFolder
from ppkpt.image_io import list_images
from ppkpt.engine.env import prepare_run
from ppkpt.engine.trainer import Trainer
from ppkpt.metadata import KeypointMeta
from ppkpt.visualize import draw_keypoints

logger = logging.getLogger('ppkpt')


def predict(trainer: Trainer, images: List[str]) -> List[Dict[str, Any]]:
    """Keypoints for each image: ``[{'image_file', 'keypoints' (K, 3) list, 'score'}]``."""
    dataset = ImageFolder(images)
    loader = create('TestReader')(dataset)
    trainer.model.eval()
    results = []
    with paddle.no_grad():
        for batch in loader:
            outputs = trainer.model(batch)
            for i, image_file in enumerate(batch['image_file']):
                results.append({'image_file': image_file,
                                'keypoints': np.asarray(outputs['keypoint'][i]).tolist(),
                                'score': float(outputs['score'][i])})
    return results


def save_results(results: List[Dict[str, Any]], meta: KeypointMeta, output_dir: str,
                 threshold: float) -> None:
    """Write one overlay image per input and ``keypoints.json`` into ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    for result in results:
        image = cv2.imread(result['image_file'])
        drawn = draw_keypoints(image, np.asarray([result['keypoints']]), meta.skeleton,
                               threshold, colors=meta.colors)
        out_path = os.path.join(output_dir, os.path.basename(result['image_file']))
        cv2.imwrite(out_path, drawn)
        logger.info('Saved %s', out_path)
    with open(os.path.join(output_dir, 'keypoints.json'), 'w') as f:
        json.dump({'keypoint_names': meta.names, 'results': results}, f)


def main() -> None:
    parser = ArgsParser(__doc__)
    parser.add_argument('--infer_img', default=None)
    parser.add_argument('--infer_dir', default=None)
    parser.add_argument('--output_dir', default='output')
    parser.add_argument('--draw_threshold', type=float, default=0.3)
    args = parser.parse_args()
    images = list_images(args.infer_img, args.infer_dir, ('--infer_img', '--infer_dir'))
    cfg = prepare_run(args)
    if not cfg.get('weights'):
        parser.error('pass the weights with -o weights=PATH')
    trainer = Trainer(cfg, mode='test')
    trainer.load_weights(cfg['weights'])
    results = predict(trainer, images)
    save_results(results, KeypointMeta.from_config(cfg), args.output_dir, args.draw_threshold)


if __name__ == '__main__':
    main()
