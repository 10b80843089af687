"""Bottom-up deploy: exported HigherHRNet through keypoint_infer.py, tracking on video.

* ``blob_model_dir``: a stand-in bottom-up export whose maps a test can predict: joint 0's
  heatmap is the red channel and joint 1's the blue channel (both pooled to stride 2), and
  both tags are 10 x the green channel. Each person of the test frames is a red and a blue
  Gaussian blob on a green disc of its own level, so the codec groups them into one person.
* ``higherhrnet_dir``: a real HigherHRNet (one-conv backbone + HrHRNetHead, random weights)
  exported as ``tools/export_model.py`` does, from the demo config.
"""
import json
import os
import shutil

import cv2
import numpy as np
import paddle
import pytest
import yaml
from paddle.static import InputSpec

from deploy.python import keypoint_infer
from deploy.python.bottomup_infer import BottomUpDetector, BottomUpPipeline, person_boxes
from deploy.python.keypoint_infer import KeypointDetector
from ppkpt.codecs import AssociativeEmbeddingCodec
from ppkpt.core.workspace import build_object, load_config
from ppkpt.data.transforms.preprocess import build_preprocess
from ppkpt.engine.exporter import build_infer_cfg, export_model, infer_cfg_from_config
from ppkpt.metadata import KeypointMeta
from ppkpt.modeling.architectures.higherhrnet import HigherHRNet
from ppkpt.modeling.heads.hrhrnet_head import HrHRNetHead

from tests.helpers import ROOT

DEMO_CONFIG = os.path.join(ROOT, 'configs/keypoint/demo/higherhrnet_plier_demo.yml')
SIZE, FPS, FRAMES = (256, 192), 10.0, 5
PREPROCESS = [{'type': 'EvalAffine', 'size': 128, 'stride': 32},
              {'type': 'NormalizeImage', 'mean': [0.0, 0.0, 0.0], 'std': [1.0, 1.0, 1.0],
               'is_scale': True},
              {'type': 'Permute'}]


class BlobMaps(paddle.nn.Layer):
    """[N, 3, H, W] -> (heatmaps, tags), both [N, 2, H/2, W/2] (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = paddle.nn.AvgPool2D(2, 2)
        self.tag_scale = self.create_parameter([1], default_initializer=paddle.nn.initializer
                                               .Constant(10.0))

    def export_input_spec(self, image_shape):
        return [InputSpec([None] + list(image_shape), 'float32', name='image')]

    def export_forward(self, image):
        pooled = self.pool(image)
        heatmaps = paddle.concat([pooled[:, 0:1], pooled[:, 2:3]], axis=1)
        return heatmaps, paddle.tile(pooled[:, 1:2] * self.tag_scale, [1, 2, 1, 1])


def _people(t):
    """(2, 2, 2) image px of the two people (red joint, blue joint) at frame ``t``."""
    return np.array([[[60.0 + 3 * t, 70.0], [90.0 + 3 * t, 95.0]],
                     [[190.0 - 3 * t, 100.0], [160.0 - 3 * t, 130.0]]])


def _frame_rgb(t):
    ys, xs = np.mgrid[0:SIZE[1], 0:SIZE[0]].astype(np.float64)
    frame = np.zeros((SIZE[1], SIZE[0], 3))
    for person, green in zip(_people(t), (0.2, 0.7)):
        center = person.mean(axis=0)
        frame[..., 1] = np.where((xs - center[0]) ** 2 + (ys - center[1]) ** 2 < 40 ** 2,
                                 green, frame[..., 1])
        for channel, (x, y) in zip((0, 2), person):
            blob = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 5.0 ** 2))
            frame[..., channel] = np.maximum(frame[..., channel], blob)
    return (255 * frame).round().astype(np.uint8)


@pytest.fixture(scope='module')
def blob_model_dir(tmp_path_factory):
    codec = AssociativeEmbeddingCodec([128, 128], max_num_people=5, detection_threshold=0.3)
    meta = KeypointMeta(2, names=['red', 'blue'], flip_pairs=[], skeleton=[[0, 1]])
    cfg = build_infer_cfg('HigherHRNet', preprocess=PREPROCESS, metadata=meta.to_dict(),
                          codec=codec.to_config(), flip_test=True)
    return export_model(BlobMaps(), cfg, [3, -1, -1],
                        str(tmp_path_factory.mktemp('blob') / 'model'))


@pytest.fixture(scope='module')
def video_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('video') / 'two.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), FPS, SIZE)
    for t in range(FRAMES):
        writer.write(cv2.cvtColor(_frame_rgb(t), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_detector_finds_both_people_in_image_pixels(blob_model_dir):
    detector = BottomUpDetector(blob_model_dir, cpu_threads=1)
    assert detector.flip_test and detector.meta.num_joints == 2
    keypoints, scores = detector.predict(_frame_rgb(0))
    assert keypoints.shape == (2, 2, 3) and scores.shape == (2,)
    order = np.argsort(keypoints[:, 0, 0])
    # one map pixel is 2 input px = 3 image px (the 256x192 frame is a 192x128 input)
    assert np.abs(keypoints[order, :, :2] - _people(0)).max() < 3.0
    assert np.all(keypoints[:, :, 2] > 0.5)
    assert sorted(detector.timer.times) == ['kpt_infer', 'kpt_post', 'kpt_pre']
    empty, empty_scores = detector.predict(np.zeros((0, 0, 3), np.uint8))
    assert empty.shape == (0, 2, 3) and empty_scores.shape == (0,)


def test_person_boxes_are_the_confident_joint_extents():
    """A box needs max(2, ceil(K / 2)) = 2 of the K = 3 joints at the threshold."""
    keypoints = np.array([[[10, 20, 0.9], [30, 5, 0.8], [99, 99, 0.1]],
                          [[50, 50, 0.9], [60, 60, 0.1], [70, 70, 0.0]],
                          [[50, 50, 0.2], [60, 60, 0.1], [70, 70, 0.0]]], np.float32)
    boxes, keep = person_boxes(keypoints, np.array([0.7, 0.4, 0.1]), 0.5)
    assert keep.tolist() == [True, False, False]
    np.testing.assert_allclose(boxes, [[0, 0.7, 10, 5, 30, 20]])
    assert person_boxes(keypoints[:0], np.zeros(0), 0.5)[0].shape == (0, 6)


def test_keypoint_infer_runs_a_bottom_up_video_with_tracking(tmp_path, blob_model_dir,
                                                            video_file):
    assert keypoint_infer.model_kind(['--model_dir', blob_model_dir]) == 'bottomup'
    out = str(tmp_path / 'out')
    document = keypoint_infer.main(['--model_dir', blob_model_dir, '--video_file', video_file,
                                    '--output_dir', out, '--save_results', '--smooth',
                                    '--cpu_threads', '1', '--run_benchmark'])
    capture = cv2.VideoCapture(os.path.join(out, 'two.mp4'))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    capture.release()
    saved = json.loads(open(os.path.join(out, 'two_pose.json')).read())
    assert saved['complete'] is True and saved['smooth'] is True
    assert saved['num_joints'] == 2 and saved['keypoint_names'] == ['red', 'blue']
    assert 'benchmark' in document
    left_ids = []
    for t, frame in enumerate(saved['frames']):
        persons = sorted(frame['persons'], key=lambda p: p['keypoints'][0][0])
        assert sorted(p['track_id'] for p in persons) == [0, 1], t
        left_ids.append(persons[0]['track_id'])
        kpts = np.array([p['keypoints'] for p in persons])
        assert kpts.shape == (2, 2, 3)
        assert np.abs(kpts[:, :, :2] - _people(t)).max() < 4.0
        bbox = persons[0]['bbox']
        assert bbox[2] > bbox[0] and bbox[3] > bbox[1]
    assert len(set(left_ids)) == 1      # each person keeps its id while both move


def test_keypoint_infer_runs_bottom_up_images(tmp_path, blob_model_dir):
    image_file = str(tmp_path / 'two.png')
    cv2.imwrite(image_file, cv2.cvtColor(_frame_rgb(1), cv2.COLOR_RGB2BGR))
    out = str(tmp_path / 'out')
    document = keypoint_infer.main(['--model_dir', blob_model_dir, '--image_file', image_file,
                                    '--output_dir', out, '--save_results', '--cpu_threads', '1'])
    assert os.path.isfile(os.path.join(out, 'two.png'))
    saved = json.loads(open(os.path.join(out, 'pose_results.json')).read())
    assert saved == json.loads(json.dumps(document))
    persons = saved['frames'][0]['persons']
    assert saved['frames'][0]['image'] == image_file and len(persons) == 2
    assert all(p['track_id'] is None for p in persons)


def test_each_detector_rejects_the_other_kind(tmp_path, blob_model_dir, keypoint_model_dir):
    with pytest.raises(ValueError, match="'HigherHRNet' is not supported by this top-down"):
        KeypointDetector(blob_model_dir)
    with pytest.raises(ValueError, match="'TopDownHRNet' is not a bottom-up model"):
        BottomUpDetector(keypoint_model_dir)
    model_dir = tmp_path / 'no_codec'
    shutil.copytree(blob_model_dir, model_dir)
    cfg = yaml.safe_load((model_dir / 'infer_cfg.yml').read_text())
    del cfg['codec']
    (model_dir / 'infer_cfg.yml').write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match='needs an AssociativeEmbeddingCodec'):
        BottomUpDetector(str(model_dir))


@pytest.fixture(scope='module')
def higherhrnet(tmp_path_factory):
    """(model, export dir, cfg): a one-conv-backbone HigherHRNet of the demo config (random
    weights, detection threshold 0 so that it finds people) exported with the config's
    infer_cfg and TestReader image shape, as tools/export_model.py does."""
    cfg = load_config(DEMO_CONFIG, ['codec.detection_threshold=0.0'])
    paddle.seed(3)
    backbone = paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 4, stride=4))
    model = HigherHRNet(_ListOutput(backbone), HrHRNetHead(5, width=8, loss=_NoLoss()),
                        codec=build_object(cfg['codec'], 'codec', cfg),
                        flip_perm=cfg['flip_perm'])
    model_dir = str(tmp_path_factory.mktemp('hrhrnet') / 'model')
    export_model(model, infer_cfg_from_config(cfg),
                 cfg['TestReader']['inputs_def']['image_shape'], model_dir)
    model.eval()
    return model, model_dir, cfg


class _ListOutput(paddle.nn.Layer):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, image):
        return [self.layer(image)]


class _NoLoss(paddle.nn.Layer):
    def forward(self, outputs, inputs):
        return {'loss': outputs[0].mean()}


def test_export_needs_no_special_case(higherhrnet):
    _, model_dir, cfg = higherhrnet
    infer_cfg = yaml.safe_load(open(os.path.join(model_dir, 'infer_cfg.yml')).read())
    assert infer_cfg['arch'] == 'HigherHRNet' and infer_cfg['flip_test'] is True
    assert [op['type'] for op in infer_cfg['Preprocess']] == ['EvalAffine', 'NormalizeImage',
                                                              'Permute']
    assert infer_cfg['codec']['type'] == 'AssociativeEmbeddingCodec'
    assert infer_cfg['codec']['input_size'] == cfg['trainsize'] == [96, 96]
    assert infer_cfg['num_joints'] == 5 and infer_cfg['flip_perm'] == cfg['flip_perm']
    assert cfg['TestReader']['inputs_def']['image_shape'] == [3, -1, -1]


def test_deploy_gives_the_evaluation_keypoints(higherhrnet):
    """Eval (HigherHRNet in eval mode on the EvalAffine record) and deploy (the export in
    Paddle Inference with the infer_cfg preprocessing) give the same people, with flip test,
    for two image sizes through one dynamic-shape graph."""
    model, model_dir, _ = higherhrnet
    detector = BottomUpDetector(model_dir, cpu_threads=1)
    rng = np.random.default_rng(0)
    for height, width in ((192, 256), (160, 160)):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        record = build_preprocess(detector.predictor.infer_cfg.preprocess, detector.codec)(
            {'image': image})
        with paddle.no_grad():
            out = model({'image': paddle.to_tensor(record['image'][None].astype(np.float32)),
                         'affine': record['affine'][None]})
        keypoints, scores = detector.predict(image)
        assert len(keypoints) > 0 and keypoints.shape[1:] == (5, 3)
        assert keypoints.shape == out['keypoint'][0].shape
        np.testing.assert_allclose(keypoints, out['keypoint'][0], atol=1e-3)
        np.testing.assert_allclose(scores, out['score'][0], atol=1e-4)


def test_pipeline_tracks_a_still_frame_with_stable_ids(higherhrnet):
    _, model_dir, _ = higherhrnet
    pipeline = BottomUpPipeline(BottomUpDetector(model_dir, cpu_threads=1),
                                keypoint_threshold=0.0, track=True)
    image = np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    first, second = pipeline.process(image), pipeline.process(image)
    count = len(first['track_ids'])
    assert count > 0 and first['boxes'].shape == (count, 6)
    assert sorted(first['track_ids'].tolist()) == list(range(count))
    np.testing.assert_array_equal(second['track_ids'], first['track_ids'])
