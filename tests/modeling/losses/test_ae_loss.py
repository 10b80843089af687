import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import create
from ppkpt.modeling.losses.ae_loss import AELoss, HeatMapSWAHRLoss, HrHRNetLoss


def random_batch(seed=0, n=3, k=5, h=8, w=8, m=6):
    """Random tags and a tagmap whose people have 0, 1 or several valid joints."""
    rng = np.random.default_rng(seed)
    tags = rng.normal(size=(n, k, h, w)).astype('float32')
    tagmap = np.zeros((n, m, k, 2), dtype='int64')
    tagmap[..., 0] = rng.integers(0, h * w, size=(n, m, k))
    tagmap[..., 1] = rng.uniform(size=(n, m, k)) > 0.4
    tagmap[0, 1, :, 1] = 0                          # an empty slot between people
    tagmap[1, 2, :, 1] = 0
    tagmap[1, 2, 3, 1] = 1                          # a one-joint person
    tagmap[2, :, :, 1] = 0                          # an image without people
    return tags, tagmap


def per_person_reference(tags, tagmap, pull_factor=0.001, push_factor=0.001):
    """PaddleDetection's AELoss written out: a Python loop over images and people."""
    pulls, pushes = [], []
    for image_tags, image_map in zip(tags, tagmap):
        pull, grouped, means = 0.0, 0, []
        for person in image_map:
            joints = np.flatnonzero(person[:, 1] > 0)
            if len(joints) == 0:
                continue
            embedding = image_tags.reshape(len(image_tags), -1)[joints, person[joints, 0]]
            mean = embedding.astype(np.float64).mean()
            pull += np.mean((embedding - mean) ** 2)
            grouped += len(joints) > 1
            means.append(mean)
        pulls.append(pull / max(grouped, 1))
        count = len(means)
        if count < 2:
            pushes.append(0.0)
            continue
        means = np.array(means)
        closeness = np.exp(-(means[:, None] - means[None, :]) ** 2)
        pushes.append((closeness.sum() - count) / (2 * count * (count - 1)))
    return pull_factor * np.mean(pulls), push_factor * np.mean(pushes)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_vectorised_loss_equals_the_per_person_loop(seed):
    tags, tagmap = random_batch(seed)
    pull, push = AELoss(pull_factor=1.0, push_factor=1.0)(paddle.to_tensor(tags),
                                                          paddle.to_tensor(tagmap))
    expected_pull, expected_push = per_person_reference(tags, tagmap, 1.0, 1.0)
    assert pull.shape == [] and push.shape == []
    np.testing.assert_allclose(float(pull), expected_pull, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(push), expected_push, rtol=1e-5, atol=1e-7)
    assert expected_pull > 0 and expected_push > 0


def test_default_factors_scale_both_terms():
    tags, tagmap = random_batch(3)
    pull, push = AELoss()(paddle.to_tensor(tags), paddle.to_tensor(tagmap))
    expected = per_person_reference(tags, tagmap)
    np.testing.assert_allclose([float(pull), float(push)], expected, rtol=1e-5)


def test_no_people_and_one_person_give_finite_losses():
    tags, tagmap = random_batch(4)
    empty = np.zeros_like(tagmap)
    pull, push = AELoss()(paddle.to_tensor(tags), paddle.to_tensor(empty))
    assert float(pull) == 0.0 and float(push) == 0.0
    one = np.zeros_like(tagmap)
    one[:, 0, :, :] = tagmap[:, 0, :, :]
    one[:, 0, 0, 1] = 1
    pull, push = AELoss(1.0, 1.0)(paddle.to_tensor(tags), paddle.to_tensor(one))
    assert np.isfinite(float(pull)) and float(push) == 0.0
    np.testing.assert_allclose(float(pull), per_person_reference(tags, one, 1.0, 1.0)[0],
                               rtol=1e-5)


def test_gradient_reaches_only_the_gathered_tags():
    tags, tagmap = random_batch(5)
    tensor = paddle.to_tensor(tags, stop_gradient=False)
    pull, push = AELoss(1.0, 1.0)(tensor, paddle.to_tensor(tagmap))
    (pull + push).backward()
    grad = tensor.grad.numpy().reshape(tags.shape[0], tags.shape[1], -1)
    gathered = np.zeros(grad.shape, dtype=bool)
    for n, m, k in zip(*np.nonzero(tagmap[..., 1])):
        gathered[n, k, tagmap[n, m, k, 0]] = True
    assert np.all(np.isfinite(grad))
    assert np.all(grad[~gathered] == 0)
    assert np.count_nonzero(grad[gathered]) > 0.9 * gathered.sum()
    assert np.all(grad[2] == 0)                     # the image without people


def test_gradient_with_no_people_is_zero_not_nan():
    tags, tagmap = random_batch(6)
    tensor = paddle.to_tensor(tags, stop_gradient=False)
    pull, push = AELoss()(tensor, paddle.to_tensor(np.zeros_like(tagmap)))
    (pull + push).backward()
    assert np.all(tensor.grad.numpy() == 0)


def test_pull_and_push_move_tags_the_right_way():
    """Two people, two joints each: pull shrinks within-person spread, push spreads means."""
    tags = np.zeros((1, 2, 1, 4), dtype='float32')
    tags[0, :, 0] = [[0.0, 0.1, 0.5, 0.6], [0.2, 0.0, 0.0, 0.4]]
    tagmap = np.array([[[[0, 1], [0, 1]], [[2, 1], [3, 1]]]], dtype='int64')
    tensor = paddle.to_tensor(tags, stop_gradient=False)
    pull, _ = AELoss(1.0, 1.0)(tensor, paddle.to_tensor(tagmap))
    pull.backward()
    grad = tensor.grad.numpy()[0, :, 0]
    assert grad[0, 0] < 0 < grad[1, 0]               # person 0: 0.0 and 0.2 move together
    tensor.clear_gradient()
    _, push = AELoss(1.0, 1.0)(tensor, paddle.to_tensor(tagmap))
    push.backward()
    grad = tensor.grad.numpy()[0, :, 0]
    assert grad[0, 0] > 0 and grad[1, 0] > 0        # person 0 (mean 0.1) pushed down
    assert grad[0, 2] < 0 and grad[1, 3] < 0        # person 1 (mean 0.45) pushed up


def hrhrnet_batch(seed=0, n=3, k=4, m=5):
    rng = np.random.default_rng(seed)
    tags, tagmap = random_batch(seed, n=n, k=k, h=8, w=8, m=m)
    arrays = {
        'heatmap_gt1x': rng.uniform(size=(n, k, 8, 8)).astype('float32'),
        'heatmap_gt2x': rng.uniform(size=(n, k, 16, 16)).astype('float32'),
        'mask_1x': (rng.uniform(size=(n, 8, 8)) > 0.2),
        'mask_2x': (rng.uniform(size=(n, 16, 16)) > 0.2),
        'tagmap': tagmap,
    }
    arrays['heatmap_gt2x'][arrays['heatmap_gt2x'] < 0.3] = 0.0   # background for SWAHR
    preds = (rng.normal(size=(n, k, 8, 8)).astype('float32'),
             rng.normal(size=(n, k, 16, 16)).astype('float32'), tags)
    return preds, arrays


def masked_mse(pred, gt, mask):
    return np.mean(np.clip((pred - gt) ** 2 * mask[:, None], 0, 2))


def test_hrhrnet_loss_sums_masked_heatmap_losses_and_the_ae_terms():
    preds, arrays = hrhrnet_batch()
    loss = HrHRNetLoss(num_joints=4)
    out = loss([paddle.to_tensor(p) for p in preds],
               {key: paddle.to_tensor(value) for key, value in arrays.items()})
    assert set(out) == {'loss', 'heatmap_loss', 'pull_loss', 'push_loss'}
    heatmap = (masked_mse(preds[0], arrays['heatmap_gt1x'], arrays['mask_1x'])
               + masked_mse(preds[1], arrays['heatmap_gt2x'], arrays['mask_2x']))
    pull, push = per_person_reference(preds[2], arrays['tagmap'])
    np.testing.assert_allclose(float(out['heatmap_loss']), heatmap, rtol=1e-5)
    np.testing.assert_allclose([float(out['pull_loss']), float(out['push_loss'])], [pull, push],
                               rtol=1e-5)
    np.testing.assert_allclose(float(out['loss']), heatmap + pull + push, rtol=1e-5)


def swahr_reference(pred, scale, gt, mask):
    """HeatMapSWAHRLoss by hand (numpy, float64)."""
    pred, scale, gt = (np.asarray(a, np.float64) for a in (pred, scale, gt))
    with np.errstate(divide='ignore'):
        adapted = 0.5 * gt * (1 + (1 + (scale - 1) * np.log(gt + 1e-10)) ** 2)
    scaled = np.where(gt > 0, adapted, gt)
    soft = scaled ** 0.01
    weight = soft * np.abs(1 - pred) + np.abs(pred) * (1 - soft)
    loss = np.mean((pred - scaled) ** 2 * mask[:, None] * weight)
    return loss + np.mean(((scale - 1) * (gt > 0)) ** 2)


def test_swahr_loss_matches_its_formula_and_has_finite_gradients():
    preds, arrays = hrhrnet_batch(1)
    rng = np.random.default_rng(1)
    scales = [rng.uniform(0.5, 1.5, size=p.shape).astype('float32') for p in preds[:2]]
    inputs = {key: paddle.to_tensor(value) for key, value in arrays.items()}
    tensors = [paddle.to_tensor(a, stop_gradient=False) for a in (*preds[:2], *scales)]
    out = HrHRNetLoss(num_joints=4, swahr=True)(
        [(tensors[0], tensors[2]), (tensors[1], tensors[3]), paddle.to_tensor(preds[2])], inputs)
    expected = (swahr_reference(preds[0], scales[0], arrays['heatmap_gt1x'], arrays['mask_1x'])
                + swahr_reference(preds[1], scales[1], arrays['heatmap_gt2x'],
                                  arrays['mask_2x']))
    np.testing.assert_allclose(float(out['heatmap_loss']), expected, rtol=1e-4)
    out['loss'].backward()
    for tensor in tensors:
        assert np.all(np.isfinite(tensor.grad.numpy())) and np.any(tensor.grad.numpy() != 0)


def test_swahr_loss_of_a_perfect_prediction_at_unit_scale_is_zero():
    gt = np.zeros((1, 1, 4, 4), 'float32')
    gt[0, 0, 1, 1] = 1.0
    loss = HeatMapSWAHRLoss()(paddle.to_tensor(gt), paddle.ones([1, 1, 4, 4]),
                              paddle.to_tensor(gt), paddle.ones([1, 4, 4]))
    assert float(loss) == pytest.approx(0.0, abs=1e-7)


def test_hrhrnet_loss_is_built_from_the_config_and_checks_shapes():
    loss = create(HrHRNetLoss, {'num_joints': 4, 'HrHRNetLoss': {'swahr': False}})
    assert loss.num_joints == 4 and not loss.swahr
    preds, arrays = hrhrnet_batch()
    inputs = {key: paddle.to_tensor(value) for key, value in arrays.items()}
    tensors = [paddle.to_tensor(p) for p in preds]
    with pytest.raises(ValueError, match='num_joints = 3 channels'):
        HrHRNetLoss(num_joints=3)(tensors, inputs)
    with pytest.raises(ValueError, match='expected 3 outputs'):
        loss(tensors[:2], inputs)
    with pytest.raises(KeyError, match=r"inputs\['mask_2x'\]"):
        loss(tensors, {k: v for k, v in inputs.items() if k != 'mask_2x'})
    with pytest.raises(ValueError, match=r'tagmap \[3, 5, 3, 2\] does not match tags'):
        AELoss()(tensors[2], inputs['tagmap'][:, :, :3])
