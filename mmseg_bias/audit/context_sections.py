"""Audit sections of the context explanations (Hoyer et al., NeurIPS 2019): grid-saliency
examples with dataset-level context statistics, and CBD / CBL on Texture-MNIST.

Both sections explain the same images with :func:`mmseg_bias.saliency.explain_images` (resumable
per image; results under ``stages/explain/<model>/<method>``), so the grid-saliency maps are
computed once. On a Texture-MNIST dataset with a planted bias the images come from its biased test
set, half of them showing the biased digit (where the bias texture is visible); elsewhere they are
the first images of the evaluation split.
"""
import copy
import os.path as osp
import types

import numpy as np
from mmengine.fileio import load as load_file
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image

from mmseg_bias.datasets.texture_mnist import digit_class
from mmseg_bias.datasets.transforms.class_erasure import resolve_classes
from mmseg_bias.evaluation.context_bias import ContextBiasMetric
from mmseg_bias.saliency.context_stats import (context_statistics, row_name,
                                               save_context_statistics)
from mmseg_bias.saliency.explain import build_explainer, explain_images, image_source, iter_records
from mmseg_bias.visualization.saliency_figures import (plot_context_statistics,
                                                       save_saliency_overlays)

from .blocks import Section, Unavailable, image, notice, table
from .cache import plain

__all__ = ['SALIENCY', 'CONTEXT_BIAS', 'planted_bias', 'PAPER_REQUEST_CLASSES', 'METHOD_NAMES']

# The request classes of the paper's Cityscapes analysis (supp. §S2).
PAPER_REQUEST_CLASSES = ('car', 'bicycle', 'motorcycle', 'person', 'rider', 'pole', 'traffic sign')
METHOD_NAMES = {'grid': 'grid saliency', 'vg': 'VG', 'ig': 'IG', 'sg': 'SG'}
# Cityscapes requests below 10k pixels at 1024x2048 are dropped (supp. §S2); scaled to the image.
PAPER_MIN_SIZE_FRACTION = 10000 / (1024 * 2048)


def planted_bias(cfg):
    """The planted bias of a Texture-MNIST evaluation dataset, or None for any other dataset.

    Returns:
        dict | None: ``data_root``, ``bias`` {digit: texture} and ``classes`` (class indices of
        the biased digits); None when the dataset is not Texture-MNIST or has no bias.
    """
    dataset = cfg.test_dataloader.dataset
    if dataset.get('type') != 'TextureMNISTDataset':
        return None
    meta_path = osp.join(dataset.get('data_root', ''), 'meta.json')
    if not osp.isfile(meta_path):
        return None
    bias = load_file(meta_path)['params'].get('bias') or {}
    if not bias:
        return None
    return dict(data_root=dataset['data_root'], bias=bias,
                classes=sorted(digit_class(int(d)) for d in bias))


def _request_classes(audit, bias):
    o, classes = audit.options, audit.classes
    if o.saliency_classes:
        return resolve_classes(o.saliency_classes, classes)
    if bias is None and set(PAPER_REQUEST_CLASSES) <= set(classes):
        return [classes.index(c) for c in PAPER_REQUEST_CLASSES]
    return list(range(1, len(classes)))  # all but class 0 (background of VOC, Texture-MNIST)


def _unserialised(dataset):
    """A plain dataset config built without serialisation (which costs a ``gc.collect``)."""
    if {'dataset', 'datasets'} & set(dataset):
        return dict(dataset)
    return dict(dataset, serialize_data=False)


def _images(audit, name, bias):
    """(names, load, bias masks by image path or None) of the images the sections explain;
    built once per model and audit."""
    return audit.shared(('explained_images', name), lambda: _select_images(audit, name, bias))


def _select_images(audit, name, bias):
    cfg = copy.deepcopy(audit.config(name))  # a shallow copy would share its loaders
    n = audit.options.saliency_images
    dataset = _unserialised(cfg.test_dataloader.dataset)
    if bias is None:
        cfg.test_dataloader.dataset = dataset
        names, load = image_source(types.SimpleNamespace(cfg=cfg), split='test')
        return names[:n], load, None
    cfg.test_dataloader.dataset = dict(dataset, split='test_biased')
    names, load = image_source(types.SimpleNamespace(cfg=cfg), split='test')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, with_meta=True, pipeline=[]))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    is_biased = [digit_class(info['digit']) in bias['classes'] for info in infos]
    biased = [i for i, b in enumerate(is_biased) if b]
    others = [i for i, b in enumerate(is_biased) if not b]
    chosen = sorted(biased[:(n + 1) // 2] + others[:n // 2])
    masks = {infos[i]['img_path']: infos[i]['bias_mask_path'] for i in chosen}
    return [names[i] for i in chosen], (lambda j: load(chosen[j])), masks


def _explainer_options(audit, method, bias):
    o = audit.options
    if method == 'grid':
        # paper: 4x4 grid, nearest upsampling on the toy set, bilinear on Cityscapes (grid size
        # there unpublished: the same 4x4 here)
        return dict(grid_size=4, upsample='nearest' if bias is not None else 'bilinear',
                    steps=o.saliency_steps)
    return dict(n_steps=o.gradient_samples, nt_samples=o.gradient_samples)


def explain_job(audit, name, method):
    """What :func:`explain` will do for model ``name`` and ``method``: its images, request
    options, explainer options and the settings that identify its results."""
    bias = planted_bias(audit.config(name))
    names, load, bias_masks = _images(audit, name, bias)
    if not names:
        raise Unavailable('the evaluation split has no image to explain')
    o = audit.options
    min_size = o.min_request_size
    if min_size is None:
        height, width = load(0)['inputs'].shape[-2:]
        min_size = round(PAPER_MIN_SIZE_FRACTION * height * width)
    options = _explainer_options(audit, method, bias)
    requests = dict(source=o.saliency_source, classes=_request_classes(audit, bias),
                    per='class', min_size=min_size)
    settings = plain(dict(audit.fingerprint(name), method=method, options=options,
                          biased_split=bias is not None, images=names, **requests))
    return dict(name=name, method=method, names=names, load=load, bias_masks=bias_masks,
                options=options, requests=requests, settings=settings,
                folder=osp.join(audit.cache.folder('explain', name), method))


def explain(audit, job):
    """Explain the job's images (resumable per image); returns their records (with arrays)."""
    model = audit.segmentor(job['name'])
    explainer = build_explainer(model, job['method'], **job['options'])
    explain_images(model, explainer, job['folder'], job['names'], job['load'], job['settings'],
                   **job['requests'])
    wanted = set(job['names'])
    records = [r for r in iter_records(job['folder'], settings=job['settings'])
               if r['name'] in wanted]
    for r in records:
        r['bias_mask_path'] = None if job['bias_masks'] is None else \
            job['bias_masks'][r['img_path']]
    return records


def _saliency_of_model(audit, name):
    """Grid saliency of one model, its context statistics and example overlays (cached)."""
    o, classes = audit.options, audit.classes
    job = explain_job(audit, name, 'grid')

    def compute(folder):
        records = explain(audit, job)
        requests = [q for r in records for q in r['requests']]
        labels = 'gt' if all('gt' in r for r in records if r['requests']) else 'pred'
        stats = context_statistics(records, len(classes), classes, labels=labels)
        save_context_statistics(stats, folder)
        heatmaps = plot_context_statistics(stats, folder) if stats['row_names'] else []
        overlays = [save_saliency_overlays(r, osp.join(folder, 'overlays'), classes)[0]
                    for r in records if r['requests']][:o.saliency_examples]
        used = [q for q in requests if q['valid'] and not q['empty']]
        return dict(heatmaps=heatmaps, overlays=overlays, images=len(records),
                    requests=len(requests), valid=sum(q['valid'] for q in requests),
                    empty=sum(q['empty'] for q in requests), used=len(used),
                    area=float(np.mean([q['area'] for q in used])) if used else None)
    return audit.cache.run('saliency', dict(job['settings'], examples=o.saliency_examples),
                           compute, model=name)


def run_saliency(audit):
    o, classes = audit.options, audit.classes
    columns, rows = {}, []
    for name in audit.names:
        result = _saliency_of_model(audit, name)
        blocks = [image(path) for path in result['overlays']]
        if result['heatmaps']:
            blocks += [image(result['heatmaps'][2], 'share of salient context on each context '
                                                    'class minus the dilation baseline (points); '
                                                    'rows: request class (used samples)'),
                       image(result['heatmaps'][0], 'share of salient context per context class '
                                                    '(%)')]
        else:
            blocks.append(notice('no request passed the filters (request classes, minimum size) '
                                 'in the explained images: the model predicts none of the '
                                 'request classes there'))
        columns[name] = blocks
        rows.append([name] + [result[k] for k in ('images', 'requests', 'valid', 'empty', 'used',
                                                  'area')])
    request_names = ', '.join(row_name(c, classes) for c in _request_classes(
        audit, planted_bias(audit.config(audit.reference))))
    blocks = [table(['model', 'images', 'requests', 'valid', 'empty maps', 'used',
                     'mean salient context area'], rows,
                    f'requests = {o.saliency_source} {request_names} (one per class and '
                    'image, after the size filter); valid = preservation loss ≤ 0.1; used = '
                    f'valid and not empty; {o.saliency_steps} SGD steps', digits=3)]
    return blocks, columns, {}


def _bias_mask(path):
    return np.asarray(Image.open(path)) > 0


def _context_bias_of_model(audit, name, method, biased):
    """CBD / CBL of one model's ``method`` maps and an overlay of a biased digit (cached)."""
    classes = audit.classes
    job = explain_job(audit, name, method)

    def compute(folder):
        records = explain(audit, job)
        samples = [dict(saliency=r['saliency'][j], request=r['masks'][j], request_class=q['cls'],
                        bias_mask=_bias_mask(r['bias_mask_path']), valid=q['valid'])
                   for r in records for j, q in enumerate(r['requests'])]
        # gradient maps are unbounded: scaled to their maximum over the context for CBD
        metric = ContextBiasMetric(normalise=None if method == 'grid' else 'max',
                                   biased_classes=biased, classes=classes)
        metric.process(None, samples)
        result = metric.evaluate(len(samples)) if samples else {}
        example = next((r for r in records for q in r['requests'] if q['cls'] in biased), None)
        overlay = None if example is None else \
            save_saliency_overlays(example, osp.join(folder, 'overlays'), classes)[0]
        return dict(metrics={k.split('/', 1)[1]: v for k, v in result.items()}, overlay=overlay)
    return audit.cache.run(f'context_bias_{method}', job['settings'], compute, model=name)


def run_context_bias(audit):
    bias = planted_bias(audit.config(audit.reference))
    if bias is None:
        dataset = audit.config(audit.reference).test_dataloader.dataset.get('type')
        raise Unavailable(f'CBD / CBL need a dataset with a planted context bias (a biased '
                          f'Texture-MNIST set); the audited dataset ({dataset}) has none')
    classes = audit.classes
    biased = bias['classes']
    biased_names = ', '.join(classes[c] for c in biased)
    rows, columns, summary, checks = [], {}, {}, []
    for name in audit.names:
        iou = audit.clean_metrics(name)
        digits = [c for c in range(1, len(classes)) if c not in biased]
        others = np.nanmean([iou.get(f'IoU.{classes[c]}', np.nan) for c in digits])
        checks.append([name] + [iou.get(f'IoU.{classes[c]}') for c in biased] + [float(others)])
        columns[name] = []
        for method, label in METHOD_NAMES.items():
            result = _context_bias_of_model(audit, name, method, biased)
            get = result['metrics'].get
            rows.append([name, label, get('CBD.biased'), get('CBD.unbiased'), get('CBD.gap'),
                         get('CBL.biased'), get('num_valid'), get('num_maps')])
            summary.setdefault(name, {})[f'CBL {label}'] = get('CBL.biased')
            if result['overlay']:
                columns[name].append(image(result['overlay'], f'{label} on a biased '
                                                              f'{biased_names}'))
    blocks = [table(['model'] + [f'IoU {classes[c]} (biased)' for c in biased]
                    + ['mean IoU of the other digits'], checks,
                    f'bias check on the unbiased test set: a model that learned the bias texture '
                    f'of {biased_names} misses it where the texture is absent', digits=1),
              table(['model', 'method', f'CBD {biased_names}', 'CBD other digits', 'CBD gap',
                     'CBL', 'valid maps', 'maps'], rows,
                    f'on the biased test set (bias {bias["bias"]}); gradient maps are scaled to '
                    'their maximum over the context for CBD; paper, strong bias: CBL grid 0.95, '
                    'IG 0.61, VG 0.50, SG 0.45', digits=3)]
    return blocks, columns, summary


SALIENCY = Section(
    'saliency', 'Grid saliency and context statistics',
    'Grid saliency: the smallest part of the context (heat) each model needs to keep its '
    'prediction of the requested object (outlined); the statistics count which classes that '
    'salient context falls on against a fixed-size dilation around the object, so positive '
    'differences are context the model relies on beyond mere proximity.', run_saliency)
CONTEXT_BIAS = Section(
    'context_bias', 'Context bias detection and localisation (CBD / CBL)',
    'On Texture-MNIST with a planted bias: CBD = share of the context an explanation marks '
    'salient, CBL = share of that salient context on the tile carrying the bias texture; a model '
    'that learned the bias has a higher CBD on the biased digit than on the others (positive '
    'gap), and an explanation that localises the bias has CBL near 1.', run_context_bias)
