"""Images to run inference on: one file, or every image in a folder."""
import glob
import os
from typing import Any, Callable, Dict, List, Optional

from paddle.io import Dataset

from ppkpt.core.workspace import register, serializable
from ppkpt.data.transforms.common import Compose

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def list_images(infer_img: Optional[str] = None, infer_dir: Optional[str] = None) -> List[str]:
    """``[infer_img]`` or the sorted images in ``infer_dir``; errors name the missing path."""
    if infer_img:
        if not os.path.isfile(infer_img):
            raise FileNotFoundError(f'--infer_img not found: {infer_img}')
        return [infer_img]
    if not infer_dir or not os.path.isdir(infer_dir):
        raise FileNotFoundError(f'--infer_dir not found: {infer_dir}')
    files = sorted(f for f in glob.glob(os.path.join(infer_dir, '*'))
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {infer_dir}')
    return files


@register
@serializable
class ImageFolder(Dataset):
    """Records ``{'image_file', 'im_id'}``; the reader's ``Decode`` op reads the pixels.

    Args:
        images: image paths.
    """

    __category__ = 'dataset'

    def __init__(self, images: List[str] = []) -> None:
        super().__init__()
        self.images = list(images)
        self.transform = Compose([])

    def set_transform(self, ops: List[Callable]) -> None:
        self.transform = Compose(ops)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        return self.transform({'image_file': self.images[idx], 'im_id': idx})
