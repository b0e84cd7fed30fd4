"""Streaming per-class logit statistics (the paper's "running logit tracker") and their metric.

Pixels are grouped (by predicted class, or by ground-truth class); per group we keep the pixel
count, the mean logit vector and the centred second moment ``M2 = sum (x - mean)(x - mean)^T``,
all in float64. Each batch's own (count, mean, M2) is computed in two passes and merged into the
running totals with Chan et al.'s parallel formulas, so memory is O(G D^2) whatever the dataset
size, and statistics from several ranks merge exactly the same way.
"""
import copy

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

from .evaluate import evaluate
from .logit_measures import (background_margins, centroid_distances, centroid_pca,
                             components_for_variance, group_effective_dims, logit_distance,
                             participation_ratio)

__all__ = ['LogitStats', 'LogitStructureMetric', 'evaluate_logit_structure']


class LogitStats:
    """Per-group count, mean and centred second moment of logit vectors, mergeable.

    Args:
        num_groups (int): G, the number of groups (classes).
        num_dims (int): D, the length of a logit vector.

    Attributes:
        count (np.ndarray): (G,) int64 pixel counts.
        mean (np.ndarray): (G, D) float64 mean logit vectors (0 for empty groups).
        m2 (np.ndarray): (G, D, D) float64 centred second moments (0 for empty groups).
    """

    def __init__(self, num_groups, num_dims):
        self.count = np.zeros(num_groups, np.int64)
        self.mean = np.zeros((num_groups, num_dims))
        self.m2 = np.zeros((num_groups, num_dims, num_dims))

    @property
    def num_groups(self):
        return self.count.shape[0]

    @property
    def num_dims(self):
        return self.mean.shape[1]

    def update(self, logits, groups):
        """Add pixels.

        Args:
            logits (Tensor | np.ndarray): (N, D) logit vectors, one row per pixel (any float
                dtype and device; the batch statistics are computed there in float64).
            groups (Tensor | np.ndarray): (N,) integer group of each pixel; negative = skip.

        Returns:
            LogitStats: self.
        """
        return self.merge(self.of_batch(logits, groups, self.num_groups))

    @classmethod
    def of_batch(cls, logits, groups, num_groups):
        """Statistics of one batch of pixels (arguments as :meth:`update`)."""
        x = torch.as_tensor(logits)
        g = torch.as_tensor(groups, device=x.device).reshape(-1)
        if x.ndim != 2 or x.shape[0] != g.numel():
            raise ValueError(f'logits must be (N, D) with one group per row, got logits '
                             f'{tuple(x.shape)} and {g.numel()} groups')
        stats = cls(num_groups, x.shape[1])
        present = torch.unique(g[g >= 0]).tolist()
        if present and present[-1] >= num_groups:
            raise ValueError(f'group index {present[-1]} is out of range for {num_groups} groups')
        for k in present:
            xk = x[g == k].to(torch.float64)
            mean = xk.mean(0)
            centred = xk - mean
            stats.count[k] = xk.shape[0]
            stats.mean[k] = mean.cpu().numpy()
            stats.m2[k] = (centred.T @ centred).cpu().numpy()
        return stats

    def merge(self, other):
        """Add ``other``'s pixels (Chan et al.): with delta = mean_b - mean_a and n = n_a + n_b,
        mean = mean_a + delta n_b / n and M2 = M2_a + M2_b + delta delta^T n_a n_b / n.

        Returns:
            LogitStats: self.
        """
        if other.mean.shape != self.mean.shape:
            raise ValueError(f'cannot merge statistics of shape {other.mean.shape} into '
                             f'{self.mean.shape} (different number of groups or logits)')
        na, nb = self.count.astype(np.float64), other.count.astype(np.float64)
        n = na + nb
        safe_n = np.where(n > 0, n, 1.0)
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (nb / safe_n)[:, None]
        self.m2 = self.m2 + other.m2 + (delta[:, :, None] * delta[:, None, :]
                                        * (na * nb / safe_n)[:, None, None])
        self.count = self.count + other.count
        return self

    def copy(self):
        return copy.deepcopy(self)

    def centroids(self):
        """(G, D) mean logit vectors, NaN rows for empty groups."""
        return np.where(self.count[:, None] > 0, self.mean, np.nan)

    def covariance(self, ddof=1):
        """(G, D, D) covariance ``M2 / (n - ddof)``; ddof=1 as ``np.cov``. NaN where n <= ddof."""
        denominator = self.count.astype(np.float64) - ddof
        valid = denominator > 0
        cov = self.m2 / np.where(valid, denominator, 1.0)[:, None, None]
        cov[~valid] = np.nan
        return cov

    def correlation(self):
        """(G, D, D) Pearson correlation as ``np.corrcoef`` (clipped to [-1, 1]); NaN in the rows
        and columns of logits with zero variance and for groups with fewer than 2 pixels."""
        cov = self.covariance()
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))
        scale = std[:, :, None] * std[:, None, :]
        corr = np.divide(cov, scale, out=np.full_like(cov, np.nan), where=scale > 0)
        return np.clip(corr, -1.0, 1.0)

    def state_dict(self):
        return dict(count=self.count, mean=self.mean, m2=self.m2)

    @classmethod
    def from_state_dict(cls, state):
        stats = cls(*state['mean'].shape)
        stats.count, stats.mean, stats.m2 = (np.array(state[k]) for k in ('count', 'mean', 'm2'))
        return stats


@METRICS.register_module()
class LogitStructureMetric(BaseMetric):
    """Logit-space structure of a segmentor: per-group logit statistics and derived measures.

    Streams over ``seg_logits`` (D, H, W, at the label's resolution, as mmseg's segmentors return
    them; for single-channel heads mmseg stores sigmoid probabilities there) and keeps
    :class:`LogitStats`; :meth:`evaluate` merges the statistics of all ranks before computing.
    Analyse without test-time augmentation: mmseg's SegTTAModel merges only the predictions and
    leaves one augmentation's logits in the sample.

    Args:
        group_by (str): 'pred' (the paper: pixels grouped by predicted class) or 'gt'.
        ignore_index (int): label value of unlabelled pixels.
        skip_ignore (bool): leave out pixels whose label is ``ignore_index`` (needs
            ``gt_sem_seg``); with 'gt' they are always left out.
        background_index (int): the background class for the paper's Distance (0 = VOC's).
        with_covariance (bool): also return the (G, D, D) covariance and correlation matrices
            (large; the analysis tool turns this on).
        variance_threshold (float): share of variance for ``components_for_variance``.
        prefix (str): key prefix, default 'logit'.
        **kwargs: options the test tool sets on every evaluator (``output_dir``,
            ``keep_results``); ignored, as by IoUMetric.

    Results (JSON-friendly; G groups, D logits; NaN where undefined):
        ``num_pixels``, ``counts`` (G), ``centroids`` (G x D), ``centroid_distances`` (G x G),
        ``distance`` (the paper's Distance; NaN unless D == G), ``background_margins`` (G),
        ``explained_variance_ratio`` and ``cumulative_explained_variance`` (PCA of the centroid
        matrix), ``effective_dim`` (participation ratio of the PCA eigenvalues),
        ``components_for_variance`` (with ``variance_threshold``), ``group_effective_dims`` (G,
        participation ratio of each group's covariance), optionally ``covariance`` and
        ``correlation`` (G x D x D, ddof=1).
    """
    default_prefix = 'logit'

    def __init__(self, group_by='pred', ignore_index=255, skip_ignore=True, background_index=0,
                 with_covariance=False, variance_threshold=0.95, prefix=None, **kwargs):
        super().__init__(prefix=prefix)
        if group_by not in ('pred', 'gt'):
            raise ValueError(f"group_by must be 'pred' or 'gt', got {group_by!r}")
        self.group_by = group_by
        self.ignore_index = ignore_index
        self.skip_ignore = skip_ignore
        self.background_index = background_index
        self.with_covariance = with_covariance
        self.variance_threshold = variance_threshold
        self._reset()

    def _reset(self):
        self._stats = None  # all processed samples but the last one
        self._last = None  # the last sample alone: it may be a distributed sampler's padding
        self._num_samples = 0

    def process(self, data_batch, data_samples):
        """Add each sample's pixels: ``seg_logits`` (D, H, W) grouped by ``pred_sem_seg`` or
        ``gt_sem_seg`` (1, H, W)."""
        if not self.dataset_meta or 'classes' not in self.dataset_meta:
            raise ValueError('LogitStructureMetric needs dataset_meta["classes"] (the Runner and '
                             'Evaluator set it from the dataset); set metric.dataset_meta')
        num_groups = len(self.dataset_meta['classes'])
        for sample in data_samples:
            if 'seg_logits' not in sample:
                raise ValueError('LogitStructureMetric needs seg_logits in the data samples; '
                                 "evaluate an mmseg segmentor (its predict() returns them)")
            logits = sample['seg_logits']['data']
            groups = self._groups(sample)
            if tuple(groups.shape) != tuple(logits.shape[1:]):
                raise ValueError(f'seg_logits {tuple(logits.shape)} and labels '
                                 f'{tuple(groups.shape)} differ in size; the test pipeline '
                                 'must load annotations at the original resolution')
            stats = LogitStats.of_batch(logits.flatten(1).T, groups.reshape(-1), num_groups)
            if self._last is not None:
                self._stats = self._last if self._stats is None else self._stats.merge(self._last)
            self._last = stats
            self._num_samples += 1

    def _groups(self, sample):
        """(H, W) int64 group of each pixel, -1 for skipped pixels."""
        need_gt = self.group_by == 'gt' or self.skip_ignore
        if need_gt and 'gt_sem_seg' not in sample:
            raise ValueError(f"group_by='{self.group_by}', skip_ignore={self.skip_ignore} needs "
                             "gt_sem_seg in the data samples; use group_by='pred', "
                             'skip_ignore=False on unlabelled data')
        source = 'pred_sem_seg' if self.group_by == 'pred' else 'gt_sem_seg'
        groups = sample[source]['data'].squeeze(0).long()
        if need_gt:
            gt = sample['gt_sem_seg']['data'].squeeze(0).to(groups.device)
            groups = torch.where(gt == self.ignore_index, -1, groups)
        return groups

    def evaluate(self, size):
        """Merge the statistics of all ranks and compute.

        Samples past ``size`` are padding added by mmengine's DefaultSampler (``round_up``): rank
        r's j-th sample is sample ``r + world_size * j`` of the interleaved order, so padding is
        at most each rank's last sample, which is kept apart until here and then left out (the
        same convention as mmengine's ``collect_results``).
        """
        _, world_size = get_dist_info()
        merged = []
        for rank, gathered in enumerate(all_gather_object(self._local_part())):
            if gathered['stats'] is not None:
                merged.append(LogitStats.from_state_dict(gathered['stats']))
            last_index = rank + world_size * (gathered['num_samples'] - 1)
            if gathered['last'] is not None and last_index < size:
                merged.append(LogitStats.from_state_dict(gathered['last']))
        self._reset()
        metrics = self.compute_metrics(merged)
        return {f'{self.prefix}/{k}' if self.prefix else k: v for k, v in metrics.items()}

    def _local_part(self):
        """This rank's statistics as plain arrays, for :func:`all_gather_object`."""
        return dict(stats=None if self._stats is None else self._stats.state_dict(),
                    last=None if self._last is None else self._last.state_dict(),
                    num_samples=self._num_samples)

    def compute_metrics(self, results):
        """Measures of the union of ``results`` (a list of :class:`LogitStats`)."""
        if not results:
            raise ValueError('LogitStructureMetric processed no samples; is the test set empty?')
        stats = results[0].copy()
        for other in results[1:]:
            stats.merge(other)
        centroids = stats.centroids()
        square = stats.num_groups == stats.num_dims
        margins = (background_margins(centroids, self.background_index) if square
                   else np.full(stats.num_groups, np.nan))
        pca = centroid_pca(centroids)
        cov = stats.covariance()
        metrics = dict(
            num_pixels=int(stats.count.sum()), counts=stats.count.tolist(),
            centroids=centroids.tolist(), centroid_distances=centroid_distances(centroids).tolist(),
            distance=(logit_distance(centroids, self.background_index) if square
                      else float('nan')),
            background_margins=margins.tolist(),
            explained_variance_ratio=pca['explained_variance_ratio'].tolist(),
            cumulative_explained_variance=pca['cumulative'].tolist(),
            effective_dim=participation_ratio(pca['explained_variance']),
            components_for_variance=components_for_variance(pca['cumulative'],
                                                            self.variance_threshold),
            variance_threshold=self.variance_threshold,
            group_effective_dims=group_effective_dims(cov).tolist())
        if self.with_covariance:
            metrics.update(covariance=cov.tolist(), correlation=stats.correlation().tolist())
        return metrics


def evaluate_logit_structure(model, transforms=(), after='LoadImageFromFile', metric=None,
                             dataloader=None, progress=True):
    """Run a segmentor over its config's test set with ClassIoUMetric and LogitStructureMetric.

    Args:
        model (nn.Module): a segmentor, e.g. from :func:`mmseg_bias.apis.init_segmentor` (whose
            ``model.cfg`` supplies the test dataloader when ``dataloader`` is not given).
        transforms (Sequence[dict]): transforms inserted after the pipeline's ``after`` step
            (e.g. a corruption after ``LoadImageFromFile``).
        metric (dict, optional): LogitStructureMetric options (``with_covariance`` is on unless
            given).
        dataloader (dict, optional): dataloader config; default ``model.cfg.test_dataloader``.
        progress (bool): show a progress bar.

    Returns:
        dict: IoU results (``aAcc``, ``mIoU``, ``mAcc``, ``IoU.<class>``, %) and the
        LogitStructureMetric results under ``logit/``.
    """
    options = {'with_covariance': True, **(metric or {})}
    return evaluate(model, transforms, after=after, dataloader=dataloader, progress=progress,
                    extra_metrics=[dict(type='LogitStructureMetric', **options)])
