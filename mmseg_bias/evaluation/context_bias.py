"""Context bias detection (CBD) and localisation (CBL) of context saliency maps (grid saliency §4).

For a saliency map M (H, W), the request mask R (the pixels whose prediction is explained) and
the mask B of the context that carried the bias texture:

- CBD = Σ M (1 − R) / Σ (1 − R): the share of the context that is salient (supp. Eq. 6). A model
  that relies on a context bias shows a larger CBD for the biased digit than for the others.
- CBL = Σ M (1 − R) B / Σ M (1 − R): the share of the salient context that lies on the biased
  tile (supp. Eq. 7); undefined (NaN) when no context is salient. Only context counts, so
  saliency inside R never enters either measure.

Maps are used as given (grid saliency is in [0, 1]); ``normalise='max'`` divides each map by its
maximum over the context first, for unbounded maps such as gradients.

:func:`iou_drop` turns two IoU results (an unbiased and a biased model on the unbiased test set)
into the per-class IoU drop of the bias check. :class:`ContextBiasMetric` is the registered
mmengine metric: it averages CBD / CBL per request class and, given the biased classes, reports
the biased-vs-unbiased CBD gap.
"""
import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

__all__ = ['context_bias_detection', 'context_bias_localization', 'iou_drop',
           'ContextBiasMetric', 'NORMALISATIONS']

NORMALISATIONS = (None, 'max')


def _array(x, dtype=np.float64):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype)


def _context_saliency(saliency, request, normalise):
    """(M (1 − R), 1 − R) as float arrays (..., H, W)."""
    saliency, request = _array(saliency), _array(request, bool)
    if saliency.shape != request.shape:
        raise ValueError(f'saliency {saliency.shape} and request mask {request.shape} must have '
                         'the same shape')
    if normalise not in NORMALISATIONS:
        raise ValueError(f'normalise must be one of {NORMALISATIONS}, got {normalise!r}')
    context = (~request).astype(np.float64)
    salient = np.abs(saliency) * context
    if normalise == 'max':
        peak = salient.max(axis=(-2, -1), keepdims=True)
        salient = np.divide(salient, peak, out=np.zeros_like(salient), where=peak > 0)
    return salient, context


def context_bias_detection(saliency, request, normalise=None):
    """CBD = Σ M (1 − R) / Σ (1 − R).

    Args:
        saliency (array | Tensor): (H, W) or (N, H, W) saliency M (absolute value is taken).
        request (array | Tensor): same shape, bool request mask R.
        normalise (str, optional): None (maps as given) or 'max' (each map divided by its
            maximum over the context).

    Returns:
        float | np.ndarray: CBD per map (NaN where the whole image is requested).
    """
    salient, context = _context_saliency(saliency, request, normalise)
    area = context.sum(axis=(-2, -1))
    cbd = np.divide(salient.sum(axis=(-2, -1)), area, out=np.full_like(area, np.nan),
                    where=area > 0)
    return float(cbd) if cbd.ndim == 0 else cbd


def context_bias_localization(saliency, request, bias_mask, normalise=None):
    """CBL = Σ M (1 − R) B / Σ M (1 − R).

    Args:
        saliency, request: as :func:`context_bias_detection`.
        bias_mask (array | Tensor): same shape, bool B (where the bias texture is).
        normalise (str, optional): as :func:`context_bias_detection` (CBL does not depend on a
            map's scale, so this only matters for consistency).

    Returns:
        float | np.ndarray: CBL per map (NaN where no context is salient).
    """
    salient, _ = _context_saliency(saliency, request, normalise)
    bias = _array(bias_mask, bool)
    if bias.shape != salient.shape:
        raise ValueError(f'bias mask {bias.shape} and saliency {salient.shape} must have the '
                         'same shape')
    total = salient.sum(axis=(-2, -1))
    cbl = np.divide((salient * bias).sum(axis=(-2, -1)), total,
                    out=np.full_like(total, np.nan), where=total > 0)
    return float(cbl) if cbl.ndim == 0 else cbl


def iou_drop(unbiased, biased, classes):
    """Per-class IoU drop (unbiased model − biased model) on the same test set.

    Args:
        unbiased, biased (dict): metrics with ``IoU.<class>`` (%, as ClassIoUMetric returns).
        classes (Sequence[str]): class names.

    Returns:
        np.ndarray: (K,) drop in IoU as a fraction (0-1 scale; NaN where a class is missing).
    """
    def iou(metrics):
        return np.array([metrics.get(f'IoU.{c}', np.nan) for c in classes], float) / 100
    return iou(unbiased) - iou(biased)


@METRICS.register_module()
class ContextBiasMetric(BaseMetric):
    """CBD and CBL of context saliency maps, averaged per request class.

    Each processed sample is a dict with ``saliency`` (H, W), ``request`` (H, W bool),
    ``request_class`` (int), optionally ``bias_mask`` (H, W bool; needed for CBL) and ``valid``
    (bool, default True; e.g. grid saliency's preservation-loss filter — invalid maps are
    counted but not averaged). Feed it through ``Evaluator.process(data_samples=[...])``.

    Args:
        normalise (str, optional): as :func:`context_bias_detection`.
        biased_classes (Sequence[int], optional): request classes whose context carries a
            bias; adds ``CBD.biased``, ``CBD.unbiased`` (mean over the other classes' means) and
            ``CBD.gap`` (their difference, the detection margin of Fig. S11), and ``CBL.biased``.
        classes (Sequence[str], optional): class names for the per-class keys (default
            ``dataset_meta['classes']`` or the indices).
        prefix (str): key prefix, default 'context_bias'.

    Results: ``CBD`` and ``CBL`` (means over valid maps; CBL over maps with a bias mask and
    salient context), ``CBD.<class>``, ``CBL.<class>``, ``num_maps``, ``num_valid``.
    """
    default_prefix = 'context_bias'

    def __init__(self, normalise=None, biased_classes=(), classes=None, prefix=None, **kwargs):
        super().__init__(prefix=prefix)
        if normalise not in NORMALISATIONS:
            raise ValueError(f'normalise must be one of {NORMALISATIONS}, got {normalise!r}')
        self.normalise = normalise
        self.biased_classes = [int(c) for c in biased_classes]
        self.classes = classes

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            missing = {'saliency', 'request', 'request_class'} - set(sample)
            if missing:
                raise KeyError(f'ContextBiasMetric needs {sorted(missing)} in each sample')
            cbd = context_bias_detection(sample['saliency'], sample['request'], self.normalise)
            cbl = np.nan
            if sample.get('bias_mask') is not None and _array(sample['bias_mask'], bool).any():
                cbl = context_bias_localization(sample['saliency'], sample['request'],
                                                sample['bias_mask'], self.normalise)
            self.results.append((int(sample['request_class']), cbd, cbl,
                                 bool(sample.get('valid', True))))

    def _name(self, c):
        names = self.classes or (self.dataset_meta or {}).get('classes')
        return names[c] if names is not None and c < len(names) else str(c)

    def compute_metrics(self, results):
        rows = np.array([(c, d, b) for c, d, b, v in results if v], float).reshape(-1, 3)
        out = dict(num_maps=len(results), num_valid=len(rows),
                   CBD=_nanmean(rows[:, 1]), CBL=_nanmean(rows[:, 2]))
        per_class = {}
        for c in sorted({int(c) for c in rows[:, 0]}):
            sel = rows[:, 0] == c
            per_class[c] = _nanmean(rows[sel, 1])
            out[f'CBD.{self._name(c)}'] = per_class[c]
            out[f'CBL.{self._name(c)}'] = _nanmean(rows[sel, 2])
        if self.biased_classes:
            biased = [per_class[c] for c in self.biased_classes if c in per_class]
            others = [v for c, v in per_class.items() if c not in self.biased_classes]
            out['CBD.biased'] = _nanmean(biased)
            out['CBD.unbiased'] = _nanmean(others)
            out['CBD.gap'] = out['CBD.biased'] - out['CBD.unbiased']
            sel = np.isin(rows[:, 0], self.biased_classes)
            out['CBL.biased'] = _nanmean(rows[sel, 2])
        return out


def _nanmean(values):
    values = np.asarray(values, float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float('nan')
