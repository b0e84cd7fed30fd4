"""Cosine similarity between the classifier's class weight vectors, against class frequency.

The DropClass analysis (summary in seed ``001``): in a biased model the most frequent class has low
similarity with the other classes and the rarest classes are similar to many others. W is the
1x1 classifier ``decode_head.conv_seg.weight`` (K x C); S[i, j] = cos(w_i, w_j).
"""
import os.path as osp

import numpy as np
import torch

from mmseg_bias.utils import dump_json

from .class_frequency import frequency_order, write_table

__all__ = ['classifier_weight', 'cosine_similarity', 'classifier_similarity',
           'save_classifier_similarity']


def classifier_weight(model):
    """The (K, C) weights of ``model.decode_head.conv_seg`` (an mmseg segmentor) as numpy."""
    head = getattr(model, 'decode_head', None)
    conv = getattr(head, 'conv_seg', None)
    if conv is None or not hasattr(conv, 'weight'):
        raise TypeError(f'{type(model).__name__} has no decode_head.conv_seg classifier; the '
                        'analysis needs an mmseg segmentor whose decode head classifies with '
                        'conv_seg')
    return conv.weight.detach().flatten(1).cpu().double().numpy()


def cosine_similarity(weight):
    """(K, K) cosine similarity of the rows of ``weight`` (K, C)."""
    w = torch.as_tensor(np.asarray(weight, dtype=np.float64))
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (w @ w.T).numpy()


def _ranks(values):
    order = np.argsort(values, kind='stable')
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def classifier_similarity(weight, freq, by='pixel'):
    """Similarity matrix ordered by frequency, and each class's mean similarity to the others.

    Args:
        weight (array): (K, C) classifier weights, class order of ``freq['classes']``.
        freq (dict): class frequency (see :func:`class_frequency`).
        by (str): 'pixel' or 'instance' frequency.

    Returns:
        dict: ``classes`` and ``frequency`` (%) by increasing frequency; ``similarity`` (K, K) in
        that order; ``mean_similarity`` / ``max_similarity`` to the other classes and ``nearest``
        class; ``spearman`` rank correlation between frequency and mean similarity.
    """
    weight = np.asarray(weight, dtype=np.float64)
    k = len(freq['classes'])
    if weight.ndim != 2 or weight.shape[0] != k:
        raise ValueError(f'classifier has {weight.shape[0]} classes but the frequency table has '
                         f'{k}; use the config the model was trained with')
    if k < 2:
        raise ValueError('the similarity analysis needs at least 2 classes')
    order = frequency_order(freq, by)
    sim = cosine_similarity(weight)[np.ix_(order, order)]
    off = sim + np.diag(np.full(k, np.nan))
    freq_sorted = np.asarray(freq[f'{by}_freq'], float)[order]
    mean_sim = np.nanmean(off, axis=1)
    classes = [freq['classes'][i] for i in order]
    spearman = float(np.corrcoef(_ranks(freq_sorted), _ranks(mean_sim))[0, 1]) if k > 2 else \
        float('nan')
    return dict(by=by, classes=classes, frequency=freq_sorted.tolist(), similarity=sim.tolist(),
                mean_similarity=mean_sim.tolist(), max_similarity=np.nanmax(off, axis=1).tolist(),
                nearest=[classes[j] for j in np.nanargmax(off, axis=1)], spearman=spearman)


def save_classifier_similarity(result, out_dir):
    """Write ``classifier_similarity.json``, ``similarity_matrix.csv`` and
    ``similarity_summary.{csv,md}``; returns the paths."""
    json_path = osp.join(out_dir, 'classifier_similarity.json')
    dump_json(result, json_path)
    matrix = osp.join(out_dir, 'similarity_matrix')
    write_table(matrix, ['class'] + result['classes'],
                [[c] + row for c, row in zip(result['classes'], result['similarity'])], digits=3)
    summary = osp.join(out_dir, 'similarity_summary')
    rows = [[c, f, m, x, n] for c, f, m, x, n in zip(
        result['classes'], result['frequency'], result['mean_similarity'],
        result['max_similarity'], result['nearest'])]
    write_table(summary, ['class', f'{result["by"]}_freq_%', 'mean_cos_to_others',
                          'max_cos_to_others', 'nearest_class'], rows, digits=3)
    return [json_path, f'{matrix}.csv', f'{matrix}.md', f'{summary}.csv', f'{summary}.md']
