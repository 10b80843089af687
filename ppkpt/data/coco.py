"""COCO json files: loading, validation and per-image records (numpy and the stdlib only).

Nothing here imports paddle, so training, evaluation, deployment and the dataset tools share
one parser. The layers, from raw to ready:

* :func:`load_json` reads any json file with errors that name the file.
* :func:`parse_coco` / :func:`load_coco` validate a COCO keypoint (or detection) file and index
  it as a :class:`CocoFile`: images by id, annotations grouped per image, categories by id.
* :func:`image_records` turns a :class:`CocoFile` into one :class:`CocoImageRecord` per image,
  each listing its instances (box, (K, 3) keypoints, area, crowd flag, score). Top-down and
  bottom-up datasets both start from these records.
* :func:`load_coco_results` reads a COCO results list (detections).
* :func:`keypoint_category`, :func:`keypoint_annotation` and :func:`save_coco` build and write
  COCO files (the dataset tools' converters, split and merge).
"""
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, TypedDict

import numpy as np

__all__ = ['CocoFile', 'CocoImageRecord', 'CocoInstance', 'annotation_box_xywh',
           'image_records', 'keypoint_annotation', 'keypoint_category', 'load_coco',
           'load_coco_results', 'load_json', 'parse_coco', 'save_coco', 'save_json']


def load_json(path: str, owner: str) -> Any:
    """Read a JSON file.

    Args:
        path: the file.
        owner: who reads it (a class name), put first in error messages.

    Raises:
        FileNotFoundError / ValueError: naming ``path`` and ``owner``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{owner}: file not found: {path}')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f'{owner}: {path} is not valid JSON: {exc}') from exc


def annotation_box_xywh(ann: Mapping[str, Any]) -> Optional[List[float]]:
    """The [x, y, w, h] box of a COCO annotation.

    Uses ``bbox`` when it has a positive area, else the extent of the keypoints with v > 0.

    Returns:
        [x, y, w, h] floats, or None when neither source gives a positive-area box.
    """
    bbox = ann.get('bbox')
    if bbox is not None and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0:
        return [float(v) for v in bbox]
    keypoints = ann.get('keypoints')
    if not keypoints:
        return None
    kpts = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    visible = kpts[kpts[:, 2] > 0, :2]
    if len(visible) == 0:
        return None
    x1, y1 = visible.min(axis=0)
    x2, y2 = visible.max(axis=0)
    if x2 <= x1 or y2 <= y1:
        return None
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


@dataclass(frozen=True)
class CocoFile:
    """A validated COCO json, indexed by id.

    Attributes:
        source: the file it was read from (used in error messages).
        images: image id -> image dict (with ``id`` and ``file_name``), in file order.
        annotations: image id -> the annotation dicts of that image, in file order; every
            image id has a list, empty when the image has no annotations.
        categories: category id -> category dict, in file order; empty when the file has none.
        num_joints: K every annotation with ``keypoints`` was checked against, or None when
            only the (x, y, v) layout was checked.
    """

    source: str
    images: Dict[int, Dict[str, Any]]
    annotations: Dict[int, List[Dict[str, Any]]]
    categories: Dict[int, Dict[str, Any]]
    num_joints: Optional[int]

    @property
    def num_annotations(self) -> int:
        """Number of annotations over all images."""
        return sum(len(anns) for anns in self.annotations.values())


def _annotation_name(index: int, ann: Mapping[str, Any]) -> str:
    """``annotation id N`` when the annotation has an id, else ``annotations[index]``."""
    return f'annotation id {ann["id"]}' if 'id' in ann else f'annotations[{index}]'


def _require_lists(data: Any, source: str) -> None:
    """Raise KeyError naming ``source`` unless ``data`` has ``images`` and ``annotations``."""
    for key in ('images', 'annotations'):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise KeyError(f'{source} has no `{key}` list')


def _index_by_id(items: Sequence[Any], section: str, required: Sequence[str],
                 source: str) -> Dict[int, Dict[str, Any]]:
    """``{int(item['id']): item}`` of the ``images`` or ``categories`` list, in order.

    Raises:
        KeyError: naming ``source`` and ``section[i]`` when an item lacks a ``required`` key.
        ValueError: naming ``source`` and ``section[i]`` when an id is not an integer or
            repeats.
    """
    by_id: Dict[int, Dict[str, Any]] = {}
    for i, item in enumerate(items):
        for key in required:
            if not isinstance(item, dict) or key not in item:
                raise KeyError(f'{source} {section}[{i}] has no `{key}`')
        try:
            item_id = int(item['id'])
        except (TypeError, ValueError):
            raise ValueError(f'{source} {section}[{i}] has a non-integer id '
                             f'{item["id"]!r}') from None
        if item_id in by_id:
            raise ValueError(f'{source} {section}[{i}] repeats id {item_id}')
        by_id[item_id] = item
    return by_id


def _check_keypoints(index: int, ann: Mapping[str, Any], num_joints: Optional[int],
                     source: str) -> None:
    """Raise ValueError when ``keypoints`` is not (x, y, v) triplets or not K of them."""
    if 'keypoints' not in ann:
        return
    name = _annotation_name(index, ann)
    count = len(ann['keypoints'])
    if count % 3 != 0:
        raise ValueError(f'{source} {name} has {count} keypoint values, not a multiple of 3 '
                         f'(x, y, v)')
    if num_joints is not None and count // 3 != num_joints:
        raise ValueError(f'{os.path.basename(source)} {name} has {count // 3} keypoints but '
                         f'num_joints is {num_joints} (file: {source})')


def _image_id(index: int, ann: Mapping[str, Any], images: Mapping[int, Any],
              source: str) -> int:
    """The annotation's ``image_id``; KeyError naming it when that image is not listed."""
    try:
        im_id = int(ann['image_id'])
    except (KeyError, TypeError, ValueError):
        im_id = None
    if im_id not in images:
        raise KeyError(f'{source} {_annotation_name(index, ann)} refers to image id '
                       f'{ann.get("image_id")!r}, which is not in `images`')
    return im_id


def _check_category(index: int, ann: Mapping[str, Any], categories: Mapping[int, Any],
                    source: str) -> None:
    """KeyError naming ``annotations[index]`` when its ``category_id`` is not listed."""
    if categories and ann.get('category_id') not in categories:
        raise KeyError(f'{source} annotations[{index}] has unknown category_id '
                       f'{ann.get("category_id")!r} (categories: {sorted(categories)})')


def parse_coco(data: Any, source: str, num_joints: Optional[int] = None) -> CocoFile:
    """Validate the content of a COCO json and index it.

    Checks: ``images`` and ``annotations`` lists exist; every image has ``id`` and
    ``file_name`` and no image id repeats; every category has an ``id`` and none repeats;
    every annotation refers to a listed image, has a listed ``category_id`` (when the file lists
    categories), and its ``keypoints`` (when present) are a multiple of 3 values, 3 * K of
    them when ``num_joints`` is given.

    Args:
        data: the decoded json.
        source: the file name, used in error messages.
        num_joints: K, or None to accept any number of keypoints.

    Raises:
        KeyError: a missing list, key, image id or category id (file and item named).
        ValueError: a repeated id or a wrong keypoint count (file and annotation id named).
    """
    _require_lists(data, source)
    images = _index_by_id(data['images'], 'images', ('id', 'file_name'), source)
    categories = _index_by_id(data.get('categories') or [], 'categories', ('id',), source)
    annotations: Dict[int, List[Dict[str, Any]]] = {im_id: [] for im_id in images}
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            raise TypeError(f'{source} annotations[{i}] is not an object: {ann!r}')
        _check_keypoints(i, ann, num_joints, source)
        im_id = _image_id(i, ann, images, source)
        _check_category(i, ann, categories, source)
        annotations[im_id].append(ann)
    return CocoFile(source, images, annotations, categories, num_joints)


def load_coco(path: str, num_joints: Optional[int] = None, owner: str = 'COCO') -> CocoFile:
    """Read, validate and index a COCO json (see :func:`parse_coco` for the checks).

    Args:
        path: the json file.
        num_joints: K, or None to accept any number of keypoints.
        owner: who reads it (a class name), put first in file errors.

    Raises:
        FileNotFoundError / ValueError / KeyError: naming ``path``.
    """
    return parse_coco(load_json(path, owner), path, num_joints)


def load_coco_results(path: str, owner: str) -> List[Dict[str, Any]]:
    """A COCO results list (``[{image_id, category_id, bbox, score, ...}, ...]``).

    Raises:
        FileNotFoundError / ValueError: naming ``path`` (and ``owner``).
    """
    results = load_json(path, owner)
    if not isinstance(results, list):
        raise ValueError(f'{owner}: {path} must be a list of detections')
    return results


class CocoInstance(TypedDict):
    """One annotated object of an image.

    Keys:
        id: annotation id, or None.
        category_id: category id, or None.
        bbox: [x, y, w, h] pixels from :func:`annotation_box_xywh`, or None without a box.
        keypoints: (K, 3) float32 (x, y, v) as in the file, or None without ``keypoints``.
        area: ``area`` of the annotation, else the box area, else 0.
        iscrowd: 1 for a crowd region, else 0.
        score: 1.0 for ground truth.
    """

    id: Optional[int]
    category_id: Optional[int]
    bbox: Optional[List[float]]
    keypoints: Optional[np.ndarray]
    area: float
    iscrowd: int
    score: float


class CocoImageRecord(TypedDict):
    """One image with all its instances.

    Keys:
        image_file: path of the image (``image_root`` joined with ``file_name``).
        im_id: image id.
        width: image width in pixels, or None when the file does not give it.
        height: image height in pixels, or None when the file does not give it.
        instances: the image's annotations in file order (crowd ones included).
    """

    image_file: str
    im_id: int
    width: Optional[float]
    height: Optional[float]
    instances: List[CocoInstance]


def _instance(ann: Mapping[str, Any]) -> CocoInstance:
    """The :class:`CocoInstance` of one annotation."""
    box = annotation_box_xywh(ann)
    keypoints = (np.asarray(ann['keypoints'], dtype=np.float32).reshape(-1, 3)
                 if 'keypoints' in ann else None)
    box_area = box[2] * box[3] if box is not None else 0.0
    return CocoInstance(id=ann.get('id'), category_id=ann.get('category_id'), bbox=box,
                        keypoints=keypoints, area=float(ann.get('area', box_area)),
                        iscrowd=int(ann.get('iscrowd', 0)), score=1.0)


def _optional_float(image: Mapping[str, Any], key: str) -> Optional[float]:
    return float(image[key]) if key in image else None


def image_records(coco: CocoFile, image_root: str) -> List[CocoImageRecord]:
    """One record per image of ``coco``, in file order.

    Args:
        coco: a parsed file.
        image_root: folder the images' ``file_name`` is relative to.

    Returns:
        N records (N images), each with its instances (see :class:`CocoImageRecord`).
    """
    return [CocoImageRecord(image_file=os.path.join(image_root, image['file_name']),
                            im_id=im_id, width=_optional_float(image, 'width'),
                            height=_optional_float(image, 'height'),
                            instances=[_instance(ann) for ann in coco.annotations[im_id]])
            for im_id, image in coco.images.items()]


# --------------------------------------------------------------------------- writing


def keypoint_category(name: str, keypoint_names: Sequence[str],
                      skeleton: Optional[Sequence[Sequence[int]]] = None,
                      category_id: int = 1, supercategory: Optional[str] = None
                      ) -> Dict[str, Any]:
    """A COCO ``categories`` entry of a keypoint set.

    Args:
        name: the category name, e.g. ``'plier'``.
        keypoint_names: the K names in keypoint order.
        skeleton: 0-based [a, b] links; written 1-based, as COCO stores them.
        category_id: the category id.
        supercategory: defaults to ``name``.
    """
    return {'id': int(category_id), 'name': name, 'supercategory': supercategory or name,
            'keypoints': list(keypoint_names),
            'skeleton': [[int(a) + 1, int(b) + 1] for a, b in (skeleton or [])]}


def keypoint_annotation(ann_id: int, image_id: int, category_id: int,
                        keypoints: Sequence[Sequence[float]],
                        bbox: Optional[Sequence[float]] = None, iscrowd: int = 0
                        ) -> Dict[str, Any]:
    """A COCO keypoint annotation with ``num_keypoints``, ``bbox`` and ``area`` filled in.

    Args:
        ann_id: annotation id.
        image_id: id of its image.
        category_id: its category.
        keypoints: (K, 3) rows (x, y, v); a point with v 0 is written as 0, 0, 0.
        bbox: [x, y, w, h]; None (or an empty box) takes the extent of the labelled points.
        iscrowd: the crowd flag.

    Returns:
        the annotation dict; it has no ``bbox`` nor ``area`` when neither ``bbox`` nor the
        labelled points give a box with a positive area.
    """
    flat: List[float] = []
    for x, y, v in keypoints:
        flat.extend([float(x), float(y), int(v)] if v > 0 else [0.0, 0.0, 0])
    ann: Dict[str, Any] = {'id': int(ann_id), 'image_id': int(image_id),
                           'category_id': int(category_id), 'iscrowd': int(iscrowd),
                           'keypoints': flat, 'num_keypoints': sum(1 for v in flat[2::3] if v)}
    box = annotation_box_xywh({'bbox': list(bbox) if bbox is not None else None,
                               'keypoints': flat})
    if box is not None:
        ann['bbox'] = box
        ann['area'] = box[2] * box[3]
    return ann


def save_json(data: Any, path: str) -> str:
    """Write ``data`` as compact UTF-8 JSON, creating the folder; the file is replaced only
    once it is complete.

    Returns:
        ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = f'{path}.partial'
    with open(partial, 'w', encoding='utf-8') as f:
        json.dump(data, f, ensure_ascii=False, separators=(',', ':'))
    os.replace(partial, path)
    return path


def save_coco(data: Mapping[str, Any], path: str, num_joints: Optional[int] = None
              ) -> CocoFile:
    """Check ``data`` with :func:`parse_coco`, then write it to ``path``.

    A tool can therefore never write a file that ppkpt would refuse to read.

    Returns:
        the parsed file (its ``source`` is ``path``).

    Raises:
        KeyError / ValueError / TypeError: as :func:`parse_coco`; nothing is written then.
    """
    coco = parse_coco(data, path, num_joints)
    save_json(data, path)
    return coco
