"""Measures of logit-space structure (Lehman et al., ICIP 2020): plain functions over numpy arrays.

Inputs come from :class:`mmseg_bias.evaluation.logit_structure.LogitStats`: ``centroids`` is the
(G, D) matrix whose row g is the mean logit vector of the pixels in group g (predicted or
ground-truth class g; D logits, D == G for a softmax head); rows of absent groups are NaN.

Definitions used here:

- **Distance** (the paper's): mean over foreground classes n of ``mu_n[n] - mu_n[b]``, b the
  background class, i.e. how far, on average, a class's own logit sits above the background logit
  at the pixels predicted as that class (in logit units).
- **PCA** of the centroid matrix: its present rows are the samples, centred by their mean (as
  sklearn's PCA); eigenvalues = squared singular values / (rows - 1).
- **Effective dimensionality**: the participation ratio ``(sum l)^2 / sum l^2`` of the PCA
  eigenvalues l, a number between 1 (one direction holds all variance) and the number of
  components (variance spread evenly). ``components_for_variance`` gives the count-based
  alternative (fewest components reaching a share of the variance, 0.95 by default).
"""
import numpy as np

__all__ = ['centroid_distances', 'background_margins', 'logit_distance', 'centroid_pca',
           'participation_ratio', 'components_for_variance', 'group_effective_dims']


def centroid_distances(centroids):
    """Euclidean distances between centroids.

    Args:
        centroids (np.ndarray): (G, D) mean logit vectors, NaN rows for absent groups.

    Returns:
        np.ndarray: (G, G) float64, in logit units; NaN where either group is absent.
    """
    c = np.asarray(centroids, dtype=np.float64)
    diff = c[:, None, :] - c[None, :, :]
    return np.sqrt((diff ** 2).sum(-1))


def background_margins(centroids, background_index=0):
    """``mu_n[n] - mu_n[background]`` for every group n.

    Args:
        centroids (np.ndarray): (G, D) with D == G (logit n belongs to class n).
        background_index (int): the background class (0 in Pascal VOC).

    Returns:
        np.ndarray: (G,) float64; NaN for the background itself and for absent groups.
    """
    c = np.asarray(centroids, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f'the Distance needs a square centroid matrix (one logit per class), '
                         f'got shape {c.shape}')
    if not 0 <= background_index < c.shape[0]:
        raise ValueError(f'background_index {background_index} is not a class index '
                         f'(0..{c.shape[0] - 1})')
    margins = np.diag(c) - c[:, background_index]
    margins[background_index] = np.nan
    return margins


def logit_distance(centroids, background_index=0):
    """The paper's "Distance": mean of :func:`background_margins` over present foreground classes.

    Returns:
        float: in logit units; NaN if no foreground class is present.
    """
    margins = background_margins(centroids, background_index)
    present = margins[np.isfinite(margins)]
    return float(present.mean()) if present.size else float('nan')


def centroid_pca(centroids, center=True):
    """PCA of the centroid matrix (present rows only).

    Args:
        centroids (np.ndarray): (G, D), NaN rows (absent groups) are left out.
        center (bool): subtract the mean centroid first (standard PCA; the paper's default).

    Returns:
        dict: ``explained_variance`` (k,) eigenvalues in logit units squared, descending;
        ``explained_variance_ratio`` (k,) their shares; ``cumulative`` (k,) running sum of the
        shares; ``components`` (k, D) principal axes. k = min(rows, D); all empty when fewer
        than two groups are present or the centroids are all equal.
    """
    c = np.asarray(centroids, dtype=np.float64)
    rows = c[np.isfinite(c).all(1)]
    if rows.shape[0] < 2:
        return _empty_pca(c.shape[1])
    if center:
        rows = rows - rows.mean(0)
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    variance = s ** 2 / (rows.shape[0] - 1)
    total = variance.sum()
    if total <= 0:
        return _empty_pca(c.shape[1])
    ratio = variance / total
    return dict(explained_variance=variance, explained_variance_ratio=ratio,
                cumulative=np.cumsum(ratio), components=vt)


def _empty_pca(dims):
    empty = np.zeros(0)
    return dict(explained_variance=empty, explained_variance_ratio=empty, cumulative=empty,
                components=np.zeros((0, dims)))


def participation_ratio(eigenvalues):
    """Effective dimensionality ``(sum l)^2 / sum l^2`` of non-negative eigenvalues l.

    Returns:
        float: between 1 and ``len(l)``; NaN when all eigenvalues are zero or none is given.
    """
    ev = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0, None)
    denominator = (ev ** 2).sum()
    return float(ev.sum() ** 2 / denominator) if denominator > 0 else float('nan')


def components_for_variance(cumulative, threshold=0.95):
    """Fewest principal components whose cumulative explained variance reaches ``threshold``.

    Returns:
        int: 1-based count; 0 when ``cumulative`` is empty.
    """
    cum = np.asarray(cumulative, dtype=np.float64)
    if cum.size == 0:
        return 0
    # tolerate rounding: the last entry is 1 up to a few ulps
    return int(min(np.searchsorted(cum, threshold - 1e-12) + 1, cum.size))


def group_effective_dims(covariance):
    """Participation ratio of each group's logit covariance (within-class dimensionality).

    Args:
        covariance (np.ndarray): (G, D, D), NaN for groups without a covariance.

    Returns:
        np.ndarray: (G,) float64, NaN where the covariance is undefined or zero.
    """
    cov = np.asarray(covariance, dtype=np.float64)
    out = np.full(cov.shape[0], np.nan)
    for g, matrix in enumerate(cov):
        if np.isfinite(matrix).all():
            out[g] = participation_ratio(np.linalg.eigvalsh(matrix))
    return out
