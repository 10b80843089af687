"""Acceptance: eval.py and the exported model, run on the same images and boxes with the same
weights, give keypoints within 0.5 px of each other and the same AP to 3 decimals.

The three paths under test:

* evaluation: ``Trainer(cfg, 'eval').evaluate()`` (what ``tools/eval.py`` runs) on the val
  split with its ground-truth boxes; its metric writes ``keypoints_results.json``;
* deploy: the model exported like ``tools/export_model.py`` exports it, run by
  ``deploy.python.keypoint_infer.KeypointDetector`` on the same images with the same boxes
  (COCO ``x, y, w, h`` given as ``x1, y1, x1 + w, y1 + h``), scored by the same COCO metric code;
* the library API: ``ppkpt.apis.inference_topdown(init_model(cfg, weights), image, boxes)``.

The exported graph is the plain forward pass; deploy runs the flip test itself (a mirrored crop
in the same predictor call, merged by the codec as evaluation merges it) when ``infer_cfg.yml``
says ``flip_test: true``, which the export writes from the head. Both settings are compared.
"""
import json
import os
from typing import Any, Dict, List, Tuple

import numpy as np
import yaml

from deploy.python.keypoint_infer import KeypointDetector
from helpers import PLIER_CONFIG
from ppkpt.apis import inference_topdown, init_model
from ppkpt.core.workspace import build_object, load_config
from ppkpt.engine.exporter import INFER_CFG_NAME, export_model, infer_cfg_from_config
from ppkpt.engine.trainer import Trainer
from ppkpt.image_io import read_rgb

DEPLOY_TOLERANCE_PX = 0.5
API_TOLERANCE_PX = 1e-3


def _config(plier_options, trained: Dict[str, str], output_eval: str, flip_test: bool
            ) -> Dict[str, Any]:
    return load_config(PLIER_CONFIG, plier_options(
        trained['data_dir'], trained['save_dir'], f'output_eval={output_eval}',
        f'weights={trained["weights"]}', f'TopDownHeatmapHead.flip_test={str(flip_test).lower()}'))


def _evaluate(cfg: Dict[str, Any]) -> Tuple[Trainer, List[float], List[Dict[str, Any]]]:
    """What tools/eval.py does; returns the trainer, the 10 COCO stats and the written
    predictions."""
    trainer = Trainer(cfg, mode='eval')
    trainer.load_weights(cfg['weights'])
    stats = trainer.evaluate()['keypoint']
    with open(os.path.join(cfg['output_eval'], 'keypoints_results.json')) as handle:
        return trainer, stats, json.load(handle)


def _val_boxes(data_dir: str) -> Dict[int, Tuple[str, np.ndarray]]:
    """image id -> (image path, (P, 4) x1, y1, x2, y2 boxes) of the instances the eval dataset
    keeps (not crowd, some keypoint labelled), in annotation order."""
    with open(os.path.join(data_dir, 'annotations', 'val.json')) as handle:
        coco = json.load(handle)
    boxes: Dict[int, List[List[float]]] = {}
    for ann in coco['annotations']:
        if ann.get('iscrowd', 0) or not any(ann['keypoints']):
            continue
        x, y, w, h = ann['bbox']
        boxes.setdefault(ann['image_id'], []).append([x, y, x + w, y + h])
    files = {image['id']: os.path.join(data_dir, 'images', 'val', image['file_name'])
             for image in coco['images']}
    return {im_id: (files[im_id], np.asarray(b, np.float64)) for im_id, b in boxes.items()}


def _run_deploy(detector: KeypointDetector, images: Dict[int, Tuple[str, np.ndarray]]
                ) -> Dict[str, np.ndarray]:
    """Deploy keypoints of every box plus the crop centre / scale it used and its image id."""
    crops: List[Dict[str, Any]] = []
    preprocess = detector.preprocess

    def keep(record: Dict[str, Any]) -> Dict[str, Any]:
        crops.append(preprocess(record))
        return crops[-1]

    detector.preprocess = keep
    keypoints, im_ids = [], []
    for im_id, (path, boxes) in images.items():
        kpts, _ = detector.predict(read_rgb(path), boxes)
        keypoints.append(kpts)
        im_ids += [im_id] * len(boxes)
    return {'keypoint': np.concatenate(keypoints), 'im_id': np.asarray(im_ids),
            'center': np.stack([c['center'] for c in crops]),
            'scale': np.stack([c['scale'] for c in crops])}


def _match(results: List[Dict[str, Any]], im_ids: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """For each COCO result, the index of the instance with its image id and crop centre."""
    index = []
    for result in results:
        candidates = np.flatnonzero(im_ids == result['image_id'])
        distance = np.abs(centers[candidates] - np.asarray(result['center'])).max(axis=1)
        assert distance.min() < 1e-3, f'no instance with centre {result["center"]}'
        index.append(candidates[int(np.argmin(distance))])
    assert len(set(index)) == len(index)
    return np.asarray(index)


def _keypoints(results: List[Dict[str, Any]]) -> np.ndarray:
    return np.asarray([r['keypoints'] for r in results], np.float64).reshape(len(results), -1, 3)


def _pck(results: List[Dict[str, Any]], data_dir: str) -> Tuple[float, float]:
    """PCK@0.2: the fraction of labelled joints predicted within 0.2 x the longer side of their
    ground-truth box, for the results and for a guess of every joint at the crop centre."""
    with open(os.path.join(data_dir, 'annotations', 'val.json')) as handle:
        anns = json.load(handle)['annotations']
    hits, guesses, total = 0, 0, 0
    for result in results:
        ann = min((a for a in anns if a['image_id'] == result['image_id']),
                  key=lambda a: np.abs(np.add(a['bbox'][:2], np.divide(a['bbox'][2:], 2))
                                       - result['center']).max())
        gt = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
        gt = gt[gt[:, 2] > 0, :2]
        radius = 0.2 * max(ann['bbox'][2:])
        pred = np.asarray(result['keypoints'], np.float64).reshape(-1, 3)[:, :2]
        labelled = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)[:, 2] > 0
        hits += int((np.linalg.norm(pred[labelled] - gt, axis=1) < radius).sum())
        guesses += int((np.linalg.norm(np.asarray(result['center']) - gt, axis=1) < radius).sum())
        total += len(gt)
    return hits / total, guesses / total


def _deploy_stats(trainer: Trainer, detector: KeypointDetector,
                  images: Dict[int, Tuple[str, np.ndarray]], out_dir: str
                  ) -> Tuple[Dict[str, np.ndarray], List[float], List[Dict[str, Any]]]:
    """Deploy on the eval images and boxes, scored by the eval metric code (same sigmas)."""
    deploy = _run_deploy(detector, images)
    metric = trainer.build_metric()
    metric.output_eval = out_dir
    metric.reset()
    count = len(deploy['keypoint'])
    metric.update({'im_id': deploy['im_id'], 'center': deploy['center'],
                   'scale': deploy['scale'], 'score': np.ones(count, np.float32)},
                  {'keypoint': deploy['keypoint'],
                   'score': deploy['keypoint'][:, :, 2].mean(axis=1)})
    metric.accumulate()
    with open(metric.res_file) as handle:
        return deploy, metric.get_results()['keypoint'], json.load(handle)


def _assert_agree(cfg: Dict[str, Any], detector: KeypointDetector,
                  images: Dict[int, Tuple[str, np.ndarray]], out_dir: str) -> np.ndarray:
    """Eval vs deploy: keypoints within 0.5 px and the same stats; returns the eval-to-deploy
    instance index."""
    trainer, eval_stats, eval_results = _evaluate(cfg)
    assert sum(len(b) for _, b in images.values()) == len(trainer.eval_dataset) > 0
    deploy, deploy_stats, deploy_results = _deploy_stats(trainer, detector, images, out_dir)
    index = _match(eval_results, deploy['im_id'], deploy['center'])
    assert len(deploy_results) == len(eval_results)
    eval_kpts = _keypoints(eval_results)
    diff = np.abs(deploy['keypoint'][index, :, :2] - eval_kpts[:, :, :2])
    print(f'flip_test={detector.flip_test}: eval vs deploy max keypoint diff {diff.max():.6f} '
          f'px, eval AP {eval_stats[0]:.6f}, deploy AP {deploy_stats[0]:.6f}')
    assert diff.max() < DEPLOY_TOLERANCE_PX
    np.testing.assert_allclose(deploy['keypoint'][index, :, 2], eval_kpts[:, :, 2], atol=1e-3)
    assert round(deploy_stats[0], 3) == round(eval_stats[0], 3)
    np.testing.assert_allclose(deploy_stats, eval_stats, atol=5e-4)
    return index


def test_eval_deploy_and_library_api_agree(trained_plier, plier_options, tmp_path) -> None:
    cfg = _config(plier_options, trained_plier, str(tmp_path / 'eval'), flip_test=True)
    images = _val_boxes(trained_plier['data_dir'])
    _, eval_stats, eval_results = _evaluate(cfg)

    # the weights localise the pliers: AP above 0 and PCK far above a centre guess
    pck, guess_pck = _pck(eval_results, trained_plier['data_dir'])
    print(f'eval AP {eval_stats[0]:.3f}, PCK@0.2 {pck:.3f} (centre guess {guess_pck:.3f})')
    assert eval_stats[0] > 0 and pck > max(0.3, 2 * guess_pck), (eval_stats, pck, guess_pck)

    # export as tools/export_model.py does
    exporter = Trainer(cfg, mode='test')
    exporter.load_weights(cfg['weights'])
    model_dir = export_model(exporter.model, infer_cfg_from_config(cfg),
                             cfg['TestReader']['inputs_def']['image_shape'],
                             str(tmp_path / 'export'))
    with open(os.path.join(model_dir, INFER_CFG_NAME)) as handle:
        infer_cfg = yaml.safe_load(handle)
    assert infer_cfg['flip_test'] is True
    detector = KeypointDetector(model_dir, batch_size=4, cpu_threads=1)
    assert detector.flip_test and detector.codec.to_config() == infer_cfg['codec']
    assert infer_cfg['codec'] == build_object(cfg['codec'], 'codec', cfg).to_config()

    # flip test on (the config's default) and off give the same numbers in eval and deploy
    index = _assert_agree(cfg, detector, images, str(tmp_path / 'deploy'))
    no_flip = _config(plier_options, trained_plier, str(tmp_path / 'eval_plain'), flip_test=False)
    _assert_agree(no_flip, KeypointDetector(model_dir, batch_size=4, cpu_threads=1,
                                            flip_test=False), images, str(tmp_path / 'plain'))

    # the library API is the eval path itself
    model = init_model(cfg, cfg['weights'])
    api = np.concatenate([inference_topdown(model, path, boxes)
                          for path, boxes in images.values()])
    np.testing.assert_allclose(api[index, :, :2], _keypoints(eval_results)[:, :, :2], rtol=0,
                               atol=API_TOLERANCE_PX)
