"""Running a pipeline over a video or images, and the JSON documents it writes.

A video gives ``<name>.mp4`` and ``<name>_pose.json``; images give annotated copies and
``pose_results.json``. PaddleDetection's ``det_keypoint_unite_{video,image}_results.json`` are
written beside them for scripts that read PaddleDetection's format.
"""
import logging
import os
from dataclasses import asdict
from typing import Any, Dict, List

import numpy as np

from deploy.python.io_utils import (VideoSink, VideoSource, is_empty, read_image_or_copy,
                                    write_json)
from deploy.python.pipeline import TopDownPipeline

__all__ = ['run_video', 'run_images', 'persons_json', 'paddledet_results',
           'PADDLEDET_IMAGE_JSON', 'PADDLEDET_VIDEO_JSON']

logger = logging.getLogger('ppkpt.deploy')

PADDLEDET_IMAGE_JSON = 'det_keypoint_unite_image_results.json'
PADDLEDET_VIDEO_JSON = 'det_keypoint_unite_video_results.json'


def persons_json(result: Dict[str, np.ndarray]) -> List[Dict[str, Any]]:
    """The JSON records of one frame's persons."""
    persons = []
    for p in range(len(result['boxes'])):
        track_id = int(result['track_ids'][p])
        persons.append({'track_id': track_id if track_id >= 0 else None,
                        'bbox': [round(float(v), 2) for v in result['boxes'][p, 2:6]],
                        'bbox_score': round(float(result['boxes'][p, 1]), 4),
                        'keypoints': np.round(result['keypoints'][p].astype(np.float64),
                                              3).tolist(),
                        'score': round(float(result['scores'][p]), 4)})
    return persons


def paddledet_results(document: Dict[str, Any]) -> List[List[Any]]:
    """The document in the format of PaddleDetection's ``det_keypoint_unite_*_results.json``.

    One entry per frame or image with at least one person: ``[image path (images) or 1-based
    frame number (videos), [[x1, y1, x2, y2], ...], [[keypoints (K, 3)], ...],
    [[score], ...]]]``.
    """
    records = []
    for frame in document['frames']:
        persons = frame['persons']
        if persons:
            key = frame['image'] if 'image' in frame else frame['frame'] + 1
            records.append([key, [p['bbox'] for p in persons],
                            [[p['keypoints'] for p in persons], [[p['score']] for p in persons]]])
    return records


def _header(pipeline: TopDownPipeline) -> Dict[str, Any]:
    meta = pipeline.meta
    return {'num_joints': meta.num_joints, 'keypoint_names': list(meta.names),
            'skeleton': [list(link) for link in meta.skeleton],
            'smooth': pipeline.smooth, 'filter_type': pipeline.filter_type if pipeline.smooth
            else None, 'video_options': asdict(pipeline.options)}


def _save(document: Dict[str, Any], output_dir: str, name: str, paddledet_name: str) -> None:
    """Write ppkpt's JSON ``name`` and PaddleDetection's ``paddledet_name`` into
    ``output_dir``."""
    write_json(os.path.join(output_dir, name), document)
    write_json(os.path.join(output_dir, paddledet_name), paddledet_results(document))


def _annotate_frame(pipeline: TopDownPipeline, frame: np.ndarray, sink: VideoSink,
                    label: str, index: int) -> Dict[str, Any]:
    """Process one BGR frame, write it to ``sink`` and return its JSON record; an empty frame
    is written as a black frame (logged)."""
    import cv2
    if is_empty(frame):
        logger.warning('%s: frame %d is empty; written as a black frame without annotations',
                       label, index)
        pipeline.process(frame)
        sink.write(sink.blank())
        return {'frame': index, 'persons': [], 'skipped': 'empty frame'}
    result = pipeline.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    with pipeline.timer.stage('draw'):
        drawn = pipeline.draw(frame, result)
    with pipeline.timer.stage('write'):
        sink.write(drawn)
    return {'frame': index, 'persons': persons_json(result)}


def run_video(pipeline: TopDownPipeline, source: VideoSource, output_dir: str,
              save_res: bool = True) -> Dict[str, Any]:
    """Annotate every frame of ``source`` into ``output_dir/<name>.mp4``.

    The writer is closed and (with ``save_res``) ``output_dir/<name>_pose.json`` and
    ``det_keypoint_unite_video_results.json`` written even when a frame fails; the JSON then
    has ``complete: false`` and ``error``, and the exception propagates. A source that ends
    before the frame count it announces (a truncated file) gives ``truncated: true``.

    Returns:
        The JSON document (``frames``, ``num_joints``, ``keypoint_names``, ``fps``, ...).
    """
    sink = VideoSink(os.path.join(output_dir, f'{source.name}.mp4'), source.fps, source.size)
    document: Dict[str, Any] = {'frames': [], 'fps': source.fps, 'size': list(source.size),
                                'video': os.path.join(output_dir, f'{source.name}.mp4'),
                                'complete': False, 'error': None}
    try:
        for index, frame in enumerate(pipeline.timer.iterate(source, 'read')):
            document['frames'].append(_annotate_frame(pipeline, frame, sink, source.label,
                                                      index))
        document['complete'] = True
    except BaseException as err:
        document['error'] = f'{type(err).__name__}: {err}'
        raise
    finally:
        sink.close()
        document.update(_header(pipeline), frames_announced=source.frames_announced,
                        truncated=source.truncated)
        if save_res:
            _save(document, output_dir, f'{source.name}_pose.json', PADDLEDET_VIDEO_JSON)
    return document


def run_images(pipeline: TopDownPipeline, files: List[str], output_dir: str,
               save_res: bool = True, save_images: bool = True) -> Dict[str, Any]:
    """Annotate each image into ``output_dir`` (with ``save_images``) and (with ``save_res``)
    write ``output_dir/pose_results.json`` and ``det_keypoint_unite_image_results.json``.

    An unreadable image (empty, truncated, not an image) is copied unchanged and its record
    carries ``skipped``.

    Returns:
        The JSON document; each frame also carries its ``image`` path.
    """
    import cv2
    document: Dict[str, Any] = {'frames': [], 'fps': None, 'complete': False, 'error': None}
    try:
        for index, path in enumerate(files):
            record: Dict[str, Any] = {'frame': index, 'image': path, 'persons': []}
            image = read_image_or_copy(path, output_dir)
            if image is None:
                record['skipped'] = 'unreadable image'
            else:
                result = pipeline.process(image)
                record['persons'] = persons_json(result)
                if save_images:
                    canvas = pipeline.draw(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), result)
                    cv2.imwrite(os.path.join(output_dir, os.path.basename(path)), canvas)
            document['frames'].append(record)
        document['complete'] = True
    except BaseException as err:
        document['error'] = f'{type(err).__name__}: {err}'
        raise
    finally:
        document.update(_header(pipeline))
        if save_res:
            _save(document, output_dir, 'pose_results.json', PADDLEDET_IMAGE_JSON)
    return document
