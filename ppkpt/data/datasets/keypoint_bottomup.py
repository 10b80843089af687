"""Bottom-up keypoint datasets (HigherHRNet): one sample per image with all its people.

The COCO json is parsed with :mod:`ppkpt.data.coco` into per-image records. An annotation is
a *person* when it is not a crowd region and has at least one labelled keypoint (v > 0); its
joints go into ``gt_joints``. Every other annotation (``iscrowd`` regions, people without
keypoints) is an *ignore region*: the loss mask is 0 over its segmentation (polygons or RLE,
decoded with ``pycocotools.mask``), or over its box when it has no segmentation (CrowdPose
files have none). Masks are built per sample, from the stored regions, when the image is read.
"""
import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from ppkpt.core.workspace import register, serializable
from ppkpt.data.coco import CocoImageRecord, image_records, load_coco
from ppkpt.data.datasets.base import LazyImageDataset

__all__ = ['KeypointBottomUpCocoDataset', 'KeypointBottomUpCrowdPoseDataset', 'IgnoreRegion',
           'ignore_mask']


class IgnoreRegion(NamedTuple):
    """An image region the loss ignores: a crowd annotation or a person without keypoints.

    Attributes:
        ann_id: the annotation id (for error messages), or None.
        segmentation: the annotation's ``segmentation`` (polygon lists, or an RLE dict with
            list or string ``counts``), or None.
        bbox: [x, y, w, h] pixels, used when there is no usable segmentation; or None.
    """

    ann_id: Optional[int]
    segmentation: Any
    bbox: Optional[List[float]]


def _rle(segmentation: Any, height: int, width: int) -> Optional[Dict[str, Any]]:
    """The RLE of a COCO segmentation in an image of ``height`` x ``width``, or None when it
    has no polygon of three or more points."""
    if isinstance(segmentation, list):
        polygons = [poly for poly in segmentation if len(poly) >= 6]
        if not polygons:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    if isinstance(segmentation.get('counts'), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def _region_pixels(region: IgnoreRegion, height: int, width: int) -> np.ndarray:
    """(H, W) bool: the pixels of ``region``.

    Raises:
        ValueError: an RLE whose ``size`` is not the image's (the annotation is named).
    """
    rle = _rle(region.segmentation, height, width) if region.segmentation else None
    if rle is not None:
        if [int(v) for v in rle['size']] != [height, width]:
            raise ValueError(f'annotation {region.ann_id}: RLE size {list(rle["size"])} differs '
                             f'from the image size [{height}, {width}]')
        return mask_utils.decode(rle).astype(bool)
    pixels = np.zeros((height, width), dtype=bool)
    if region.bbox is not None:
        x, y, w, h = region.bbox
        pixels[max(0, int(np.floor(y))):max(0, int(np.ceil(y + h))),
               max(0, int(np.floor(x))):max(0, int(np.ceil(x + w)))] = True
    return pixels


def ignore_mask(regions: Sequence[IgnoreRegion], height: int, width: int) -> np.ndarray:
    """(H, W) float32 loss mask: 0 over every region, 1 elsewhere.

    A box covers every pixel it overlaps (pixel ``i`` spans ``[i, i + 1)``).
    """
    mask = np.ones((height, width), dtype=np.float32)
    for region in regions:
        mask[_region_pixels(region, height, width)] = 0.0
    return mask


def _is_person(instance: Dict[str, Any]) -> bool:
    """A non-crowd annotation with at least one labelled keypoint."""
    keypoints = instance['keypoints']
    return not instance['iscrowd'] and keypoints is not None and bool(np.any(keypoints[:, 2] > 0))


def _split_image(record: CocoImageRecord, annotations: Sequence[Dict[str, Any]],
                 num_joints: int) -> Tuple[np.ndarray, List[IgnoreRegion]]:
    """(M, K, 3) float32 joints of the image's people and its ignore regions."""
    people, regions = [], []
    for instance, ann in zip(record['instances'], annotations):
        if _is_person(instance):
            people.append(instance['keypoints'])
        else:
            regions.append(IgnoreRegion(ann.get('id'), ann.get('segmentation'), instance['bbox']))
    joints = (np.stack(people).astype(np.float32) if people
              else np.zeros((0, num_joints, 3), dtype=np.float32))
    return joints, regions


@register
@serializable
class KeypointBottomUpCocoDataset(LazyImageDataset):
    """Bottom-up samples from a COCO keypoint json: one per image, with all its people.

    Which annotations are people and which are ignored: see the module docstring. The
    constructor only stores its arguments; the json is parsed, and every image file checked
    to exist (unless ``skip_bad_images``), on the first ``__len__``, ``__getitem__`` or
    :meth:`parse_dataset` call. The loss mask is built when a sample is read.

    Sample keys (M people, K joints, H x W the image):
        ``image`` (H, W, 3) uint8 RGB, ``image_file`` str, ``im_id`` int, ``im_shape`` (2,)
        float32 [H, W]; unless ``test_mode``: ``gt_joints`` (M, K, 3) float32 (x, y, v) with v
        as in the file (0 unlabelled, 1 or 2 labelled), M >= 0, and with ``return_mask``
        ``mask`` (H, W) float32 (1 = the loss counts, 0 = ignore region).

    Images kept:
        ``test_mode`` keeps every image (evaluation reads the annotation file itself, so its
        samples carry no ``gt_joints`` or ``mask``). Otherwise, with
        ``drop_images_without_keypoints`` only images with at least one person are kept;
        without it every image is kept, and those without people train on all-zero targets
        (their ignore regions still masked). ``shard`` = [rank, size] then keeps the rank-th of
        ``size`` equal blocks (``len // size`` images each; the remainder is dropped), as
        PaddleDetection does.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir`` (``file_name`` is relative to it).
        anno_path: COCO keypoint json relative to ``dataset_dir``.
        num_joints: K; every annotation with keypoints must have K of them.
        transform: built ops (callables) applied to each sample.
        test_mode: evaluation samples (see above).
        return_mask: add ``mask`` to training samples.
        shard: [rank, size] block of the images this process reads.
        skip_bad_images: skip unreadable images instead of raising (see
            :class:`~ppkpt.data.datasets.base.LazyImageDataset`).
        drop_images_without_keypoints: drop the images without people at parse time (training
            only).
    """

    __category__ = 'dataset'
    __shared__ = ['num_joints']

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, num_joints: int,
                 transform: List[Callable] = [], test_mode: bool = False,
                 return_mask: bool = True, shard: List[int] = [0, 1],
                 skip_bad_images: bool = False,
                 drop_images_without_keypoints: bool = True) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, transform, skip_bad_images)
        if len(shard) != 2 or not 0 <= shard[0] < shard[1]:
            raise ValueError(f'{type(self).__name__}.shard must be [rank, size] with '
                             f'0 <= rank < size, got {shard!r}')
        self.num_joints = num_joints
        self.test_mode = test_mode
        self.return_mask = return_mask
        self.shard = [int(shard[0]), int(shard[1])]
        self.drop_images_without_keypoints = drop_images_without_keypoints
        self._regions: List[List[IgnoreRegion]] = []

    # ------------------------------------------------------------------ parsing

    def _load_records(self) -> List[Dict[str, Any]]:
        coco = load_coco(self.get_anno(), self.num_joints, type(self).__name__)
        records, regions = [], []
        for image in image_records(coco, self.img_prefix):
            joints, ignored = _split_image(image, coco.annotations[image['im_id']],
                                           self.num_joints)
            if self._keeps(joints):
                records.append({'image_file': image['image_file'], 'im_id': image['im_id'],
                                'gt_joints': joints})
                regions.append(ignored)
        block = len(records) // self.shard[1]
        start = block * self.shard[0]
        self._regions = regions[start:start + block]
        return records[start:start + block]

    def _keeps(self, joints: np.ndarray) -> bool:
        """Whether an image with these (M, K, 3) people is kept (see the class docstring)."""
        return self.test_mode or not self.drop_images_without_keypoints or len(joints) > 0

    def _check_images(self, records: List[Dict[str, Any]]) -> None:
        """Raise for the first record whose image file does not exist (unless skipping)."""
        if self.skip_bad_images:
            return
        for record in records:
            if not os.path.isfile(record['image_file']):
                raise FileNotFoundError(f'image not found: {record["image_file"]} (referenced '
                                        f'by image id {record["im_id"]} in {self.get_anno()})')

    # ------------------------------------------------------------------ sampling

    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        record = self._db[idx]
        height, width = image.shape[:2]
        sample = {'image': image, 'image_file': record['image_file'], 'im_id': record['im_id'],
                  'im_shape': np.array([height, width], dtype=np.float32)}
        if self.test_mode:
            return sample
        sample['gt_joints'] = record['gt_joints'].copy()
        if self.return_mask:
            try:
                sample['mask'] = ignore_mask(self._regions[idx], height, width)
            except ValueError as exc:
                raise ValueError(f'{type(self).__name__}: {record["image_file"]} (image id '
                                 f'{record["im_id"]} in {self.get_anno()}): {exc}') from exc
        return sample


@register
@serializable
class KeypointBottomUpCrowdPoseDataset(KeypointBottomUpCocoDataset):
    """Bottom-up samples from a CrowdPose json (14 joints: shoulders, elbows, wrists, hips,
    knees, ankles left/right, then head and neck).

    CrowdPose has no crowd regions (``iscrowd`` is always 0) and no segmentation, so the people
    without keypoints are ignored over their boxes; everything else is as
    :class:`KeypointBottomUpCocoDataset` (same arguments, ``num_joints`` defaults to 14).
    """

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, num_joints: int = 14,
                 transform: List[Callable] = [], test_mode: bool = False,
                 return_mask: bool = True, shard: List[int] = [0, 1],
                 skip_bad_images: bool = False,
                 drop_images_without_keypoints: bool = True) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, num_joints, transform, test_mode,
                         return_mask, shard, skip_bad_images, drop_images_without_keypoints)
