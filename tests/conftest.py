"""Shared fixtures: a tiny synthetic plier dataset and a capture of the ppkpt logger."""
import logging

import pytest


@pytest.fixture(scope='session')
def plier_data(tmp_path_factory) -> str:
    """A tiny plier dataset: 12 train and 6 val images at 96x96, plus a 12-frame video."""
    from ppkpt.data.synthetic import generate_split, generate_video

    out = str(tmp_path_factory.mktemp('plier'))
    generate_split(out, 'train', 12, image_size=(96, 96), seed=1)
    generate_split(out, 'val', 6, image_size=(96, 96), seed=2)
    generate_video(out, num_frames=12, fps=10, size=(128, 96), seed=3)
    return out


@pytest.fixture
def ppkpt_log(caplog):
    """Capture the 'ppkpt' logger even if another test configured it not to propagate."""
    logger = logging.getLogger('ppkpt')
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger='ppkpt')
    yield caplog
    logger.removeHandler(caplog.handler)
