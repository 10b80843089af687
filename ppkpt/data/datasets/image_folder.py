"""Images to run inference on (list them with :func:`ppkpt.image_io.list_images`)."""
from typing import Any, Callable, Dict, List

from paddle.io import Dataset

from ppkpt.core.workspace import register, serializable
from ppkpt.data.datasets.base import check_ops
from ppkpt.data.transforms.common import Compose

__all__ = ['ImageFolder']


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
        """Replace the transforms with built ops (callables); TypeError names a bad index."""
        self.transform = Compose(check_ops(ops, type(self).__name__))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        return self.transform({'image_file': self.images[idx], 'im_id': idx})

    def image_file(self, idx: int) -> str:
        """The image file of sample ``idx``."""
        return self.images[idx]
