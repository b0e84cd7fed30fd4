"""Explain Texture-MNIST test images with one saliency method and score CBD / CBL (grid
saliency supp. §S1.3-S1.4).

One request per image: the digit's pixels (its label mask, or its predicted pixels), explained
for the digit's class. Grid saliency's maps lie in [0, 1] and are used as they are (only maps
whose preservation loss passes the paper's 0.1 count); gradient maps are unbounded, so for CBD
each is divided by its maximum over the context (``gradient_normalise='max'``; the paper does
not say how it scaled them). CBL does not depend on the scale.
"""
import copy
import os.path as osp
import time

import cv2
import numpy as np
import torch
from mmengine.registry import init_default_scope

from mmseg_bias.datasets.texture_mnist import CLASSES, digit_class
from mmseg_bias.evaluation.context_bias import (ContextBiasMetric, context_bias_detection,
                                                context_bias_localization)
from mmseg_bias.saliency import (Request, SegmentationLogits, build_explainer, frozen,
                                 images_from_inputs)

__all__ = ['REQUEST_SOURCES', 'explain_set', 'digit_requests', 'score_saliency']

REQUEST_SOURCES = ('gt', 'pred')


def explain_set(cfg, data_root, split, per_digit):
    """The first ``per_digit`` images of each digit of ``split``, through the config's test
    pipeline.

    Returns:
        dict: ``images`` (N, C, H, W) float in [0, 1] (:func:`images_from_inputs`), ``labels``
        (N, H, W) long, ``bias_masks`` (N, H, W) bool, ``digits`` (N,) int, ``ids`` (N,).
    """
    from mmseg.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    for key in ('ann_file', 'data_prefix'):
        ds_cfg.pop(key, None)
    ds_cfg.update(data_root=data_root, split=split, with_meta=True, serialize_data=False)
    dataset = DATASETS.build(ds_cfg)
    chosen, counts = [], {}
    for i in range(len(dataset)):
        digit = dataset.get_data_info(i)['digit']
        if counts.get(digit, 0) < per_digit:
            counts[digit] = counts.get(digit, 0) + 1
            chosen.append(i)
    inputs, labels, masks, digits, ids = [], [], [], [], []
    for i in chosen:
        info = dataset.get_data_info(i)
        sample = dataset[i]
        inputs.append(sample['inputs'])
        labels.append(sample['data_samples'].gt_sem_seg.data[0].long())
        masks.append(torch.from_numpy(
            cv2.imread(info['bias_mask_path'], cv2.IMREAD_GRAYSCALE) > 0))
        digits.append(info['digit'])
        ids.append(osp.splitext(osp.basename(info['img_path']))[0])
    return dict(images=images_from_inputs(inputs), labels=torch.stack(labels),
                bias_masks=torch.stack(masks), digits=np.array(digits), ids=ids)


def digit_requests(data, model, source='gt'):
    """One :class:`Request` per image of ``data`` for its digit's class: the label mask ('gt') or
    the pixels predicted as the digit ('pred'; images without such pixels are skipped)."""
    if source not in REQUEST_SOURCES:
        raise ValueError(f'request source must be one of {REQUEST_SOURCES}, got {source!r}')
    if source == 'pred':
        with frozen(model), torch.no_grad():
            pred = SegmentationLogits(model)(data['images']).argmax(1).cpu()
    out = []
    for i, digit in enumerate(data['digits']):
        cls = digit_class(digit)
        mask = (data['labels'][i] == cls) if source == 'gt' else (pred[i] == cls)
        if mask.any():
            out.append(Request(i, cls, mask.numpy()))
    return out


def score_saliency(model, data, method, options=None, request_source='gt',
                   gradient_normalise='max', biased_digit=None):
    """Explain ``data`` (:func:`explain_set`) with ``method`` and score CBD / CBL.

    Args:
        model (nn.Module): a segmentor (``init_segmentor``).
        data (dict): from :func:`explain_set`.
        method (str): 'grid', 'ig', 'vg' or 'sg'.
        options (dict, optional): explainer options (paper defaults otherwise).
        request_source (str): 'gt' or 'pred' (:func:`digit_requests`).
        gradient_normalise (str, optional): CBD scaling of gradient maps ('max' or None).
        biased_digit (int, optional): the model's biased digit (adds the CBD gap and CBL of the
            biased class to the metrics).

    Returns:
        dict: ``metrics`` (:class:`ContextBiasMetric` results), ``rows`` (per request: ``id``,
        ``digit``, ``cbd``, ``cbl`` (NaN without a bias tile), ``valid``, ``empty``),
        ``seconds`` (explanation time), ``maps`` (R, H, W) and ``requests``.
    """
    requests = digit_requests(data, model, request_source)
    start = time.perf_counter()
    maps, diags = build_explainer(model, method, **(options or {})).attribute(
        data['images'], requests)
    seconds = time.perf_counter() - start
    normalise = None if method == 'grid' else gradient_normalise
    biased = [] if biased_digit is None else [digit_class(biased_digit)]
    metric = ContextBiasMetric(normalise=normalise, biased_classes=biased, classes=list(CLASSES))
    rows, samples = [], []
    for r, m, d in zip(requests, maps, diags):
        bias_mask = data['bias_masks'][r.image]
        samples.append(dict(saliency=m, request=r.mask, request_class=r.cls,
                            bias_mask=bias_mask, valid=d['valid']))
        rows.append(dict(id=data['ids'][r.image], digit=int(data['digits'][r.image]),
                         cbd=context_bias_detection(m, r.mask, normalise),
                         cbl=context_bias_localization(m, r.mask, bias_mask, normalise)
                         if bias_mask.any() else float('nan'),
                         valid=bool(d['valid']), empty=bool(d['empty'])))
    metric.process(None, samples)
    return dict(metrics=metric.compute_metrics(metric.results), rows=rows, seconds=seconds,
                maps=maps, requests=requests)
