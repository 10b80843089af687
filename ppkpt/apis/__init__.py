"""The library API: build a model from a config and run it on images in a few lines.

    from ppkpt.apis import init_model, inference_topdown
    model = init_model('configs/keypoint/hrnet/hrnet_w32_256x192.yml', 'hrnet_w32.pdparams')
    keypoints = inference_topdown(model, 'person.jpg', [[10, 20, 200, 400]])  # (N, K, 3)
"""
from ppkpt.apis.inference import inference_topdown, init_model

__all__ = ['init_model', 'inference_topdown']
