"""Request masks for context explanations (grid saliency, supp. §S2).

A request is the set of pixels R whose prediction of class c is explained. Requests are built from
a label map — the model's prediction, the ground truth, or their intersection (explaining correct
and erroneous predictions: pixels of ground-truth class g predicted as c) — either one request per
class (all kept pixels of the class; the paper's Cityscapes statistics count one sample per image
and class) or one per connected component (instance-like blobs). Components smaller than
``min_size`` pixels after a 3x3 erosion are dropped (paper: 10k pixels on 1024x2048 Cityscapes,
625 for the error analysis).
"""
from typing import NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

__all__ = ['Request', 'erode_mask', 'connected_components', 'requests_from_labels',
           'requests_from_intersection', 'build_requests', 'present_keys', 'paper_min_size',
           'SOURCES', 'PER']

SOURCES = ('pred', 'gt', 'intersection')
PER = ('class', 'component')


def paper_min_size(height, width, errors=False):
    """The paper's minimum component size (10000 px, 625 px for the error analysis, both on
    1024x2048 Cityscapes images) scaled to a ``height`` x ``width`` image, in pixels."""
    return int(round((625 if errors else 10000) * height * width / (1024 * 2048)))


class Request(NamedTuple):
    """One explanation request.

    Attributes:
        image (int): index of the image in the batch given to ``attribute``.
        cls (int): class whose prediction is explained (softmax channel).
        mask (np.ndarray | Tensor): bool (H, W), the request pixels R.
        gt_cls (int, optional): ground-truth class of the pixels (intersection requests).
    """
    image: int
    cls: int
    mask: object
    gt_cls: Optional[int] = None


def erode_mask(mask, size=3):
    """Binary erosion with a ``size`` x ``size`` square (paper: 3x3).

    Pixels outside the image do not erode (OpenCV's default border): a request touching the image
    border keeps its border pixels, only its contours against context shrink.

    Args:
        mask (np.ndarray | Tensor): bool (H, W) or (N, H, W).

    Returns:
        same type and shape as ``mask``, bool.
    """
    is_numpy = isinstance(mask, np.ndarray)
    t = torch.as_tensor(mask)
    if size <= 1:
        out = t.bool()
    else:
        flat = t.reshape(-1, 1, *t.shape[-2:]).float()
        # max_pool pads with -inf, so the minimum runs over pixels inside the image only
        out = (-F.max_pool2d(-flat, size, stride=1, padding=size // 2)).reshape(t.shape) > 0.5
    return out.numpy() if is_numpy else out


def connected_components(mask, connectivity=8):
    """Label the connected components of a bool (H, W) mask.

    Returns:
        tuple[np.ndarray, int]: int32 (H, W) labels (0 = not in the mask, 1..n) and n.
    """
    if connectivity not in (4, 8):
        raise ValueError(f'connectivity must be 4 or 8, got {connectivity}')
    structure = np.ones((3, 3), bool) if connectivity == 8 else None
    labels, n = ndimage.label(np.asarray(mask, bool), structure=structure)
    return labels.astype(np.int32), int(n)


def _kept_regions(mask, per, min_size, connectivity, erosion):
    """Bool masks of the parts of ``mask`` kept as requests: per component, components whose
    eroded size is >= ``min_size``; per class, their union (one mask, or none)."""
    comps, n = connected_components(mask, connectivity)
    if n == 0:
        return []
    eroded = erode_mask(comps > 0, erosion) if erosion > 1 else comps > 0
    sizes = np.bincount(comps[eroded], minlength=n + 1)
    keep = [i for i in range(1, n + 1) if sizes[i] >= max(min_size, 1)]
    if per == 'component':
        return [comps == i for i in keep]
    if not keep:
        return []
    return [np.isin(comps, keep)]


def _present_pairs(gt, pred, classes, ignore_index):
    """Sorted (g, c) pairs present in (gt, pred), g restricted to ``classes`` when given."""
    valid = gt != ignore_index
    codes = np.unique(gt[valid].astype(np.int64) * 65536 + pred[valid].astype(np.int64))
    pairs = [(int(k // 65536), int(k % 65536)) for k in codes]
    if classes is not None:
        pairs = [p for p in pairs if p[0] in {int(c) for c in classes}]
    return pairs


def _check(per, classes):
    if per not in PER:
        raise ValueError(f'per must be one of {PER}, got {per!r}')
    if classes is not None and isinstance(classes, (int, np.integer)):
        raise TypeError('classes must be a sequence of class indices, e.g. [13]')


def requests_from_labels(labels, classes=None, per='class', min_size=0, image=0,
                         ignore_index=255, connectivity=8, erosion=3):
    """Requests for every class of a label map (prediction or ground truth).

    Args:
        labels (np.ndarray | Tensor): int (H, W) class indices.
        classes (Sequence[int], optional): classes to request; default every class present
            (``ignore_index`` excluded).
        per (str): 'class' (one request per class: its kept components together) or
            'component' (one per connected component).
        min_size (int): drop components with fewer pixels after ``erosion`` (paper: 10000 on
            1024x2048 Cityscapes; 0 keeps every component that survives the erosion).
        image (int): image index stored in the requests.
        connectivity (int): 8 (default) or 4-connected components.
        erosion (int): erosion kernel used when measuring sizes (paper: 3; 1 = none).

    Returns:
        list[Request]: ordered by class, then component label order.
    """
    _check(per, classes)
    labels = np.asarray(torch.as_tensor(labels).cpu())
    wanted = sorted(int(c) for c in np.unique(labels) if c != ignore_index) if classes is None \
        else [int(c) for c in classes]
    out = []
    for c in wanted:
        for region in _kept_regions(labels == c, per, min_size, connectivity, erosion):
            out.append(Request(image, c, region))
    return out


def requests_from_intersection(gt, pred, pairs=None, classes=None, per='class', min_size=0,
                               image=0, ignore_index=255, connectivity=8, erosion=3,
                               errors_only=False):
    """Requests on pixels of ground-truth class g predicted as class c (error analysis, Table S2).

    The explained class is the prediction c; ``gt_cls`` = g.

    Args:
        gt, pred (np.ndarray | Tensor): int (H, W) label maps of the same size.
        pairs (Sequence[tuple[int, int]], optional): (g, c) pairs to request; default every pair
            present (restricted to ground-truth classes in ``classes`` when given).
        errors_only (bool): skip pairs with g == c (correct predictions).
        other arguments: as :func:`requests_from_labels`.

    Returns:
        list[Request]: ordered by (g, c), then component.
    """
    _check(per, classes)
    gt = np.asarray(torch.as_tensor(gt).cpu())
    pred = np.asarray(torch.as_tensor(pred).cpu())
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth {gt.shape} and prediction {pred.shape} differ in size; '
                         'resize the ground truth to the model input (nearest) first')
    if pairs is None:
        pairs = _present_pairs(gt, pred, classes, ignore_index)
    out = []
    for g, c in sorted((int(g), int(c)) for g, c in pairs):
        if errors_only and g == c:
            continue
        for region in _kept_regions((gt == g) & (pred == c), per, min_size, connectivity, erosion):
            out.append(Request(image, c, region, g))
    return out


def build_requests(source, pred=None, gt=None, **kwargs):
    """Requests from the prediction, the ground truth or their intersection.

    Args:
        source (str): 'pred' | 'gt' | 'intersection'.
        pred, gt (np.ndarray | Tensor, optional): int (H, W) label maps the source needs.
        **kwargs: options of :func:`requests_from_labels` / :func:`requests_from_intersection`
            (``classes`` selects ground-truth classes for 'intersection').
    """
    if source not in SOURCES:
        raise ValueError(f'request source must be one of {SOURCES}, got {source!r}')
    if source != 'pred' and gt is None:
        raise ValueError(f"requests from '{source}' need a ground-truth label map; images without "
                         "annotations can only be explained with source='pred'")
    if source != 'gt' and pred is None:
        raise ValueError(f"requests from '{source}' need the model's prediction")
    if source == 'intersection':
        return requests_from_intersection(gt, pred, **kwargs)
    kwargs.pop('errors_only', None)
    kwargs.pop('pairs', None)
    return requests_from_labels(pred if source == 'pred' else gt, **kwargs)


def present_keys(source, pred=None, gt=None, classes=None, ignore_index=255, errors_only=False):
    """Request keys present in an image before any size filter: class indices, or (g, c) pairs
    for 'intersection' (used for the sample-count tables)."""
    if source == 'intersection':
        keys = _present_pairs(np.asarray(torch.as_tensor(gt).cpu()),
                              np.asarray(torch.as_tensor(pred).cpu()), classes, ignore_index)
        return [k for k in keys if not (errors_only and k[0] == k[1])]
    labels = np.asarray(torch.as_tensor(pred if source == 'pred' else gt).cpu())
    keys = [int(c) for c in np.unique(labels) if c != ignore_index]
    return keys if classes is None else [k for k in keys if k in set(int(c) for c in classes)]
