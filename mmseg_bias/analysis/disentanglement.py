"""Disentanglement check of a DropClass model (supp. §A).

The trained model is frozen. A new, randomly initialised 1x1 classifier h' is trained on
A_drop = class_drop(A, s_z), computed with one fixed class z always dropped, on the training set
with all labels (z included). If the representation is disentangled, the features of z are gone
from A_drop and h' cannot reconstruct z: its IoU for z stays far below the normal model's.

The paper gives no schedule for h': iterations, learning rate, momentum, weight decay and seed are
options (defaults: SGD, lr 0.01, momentum 0.9, weight decay 5e-4 — the authors' optimiser — and
h' initialised like mmseg's ``conv_seg``, normal std 0.01). ``control=True`` also trains an h' on
A_drop with nothing dropped, with the same budget: it shows how well h' can learn z at all.
"""
import copy
import itertools
import os.path as osp
from contextlib import contextmanager

import mmcv
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.runner import Runner
from mmengine.utils import ProgressBar
from mmseg.models.utils import resize

from mmseg_bias.datasets.transforms.class_erasure import resolve_classes
from mmseg_bias.evaluation.evaluate import evaluate
from mmseg_bias.models.heads.class_drop import DropClassMixin, class_gate
from mmseg_bias.utils import dump_json

from .class_frequency import write_table
from .iou_by_frequency import per_class_iou

__all__ = ['dropclass_head', 'replaced_classifier', 'train_probe', 'disentanglement_check',
           'save_disentanglement']


def dropclass_head(model):
    """``model.decode_head`` if it is a DropClass head, else a clear error."""
    head = getattr(model, 'decode_head', None)
    if not isinstance(head, DropClassMixin):
        raise TypeError('the disentanglement check needs a DropClass model (decode head built '
                        f"with type='DropClassHead'), got a {type(head).__name__} head")
    return head


@contextmanager
def replaced_classifier(head, classifier, dropped_class):
    """Inside the block the head predicts ``classifier(class_drop(A, s_z))`` (z = ``dropped_class``,
    None keeps every class), through the model's normal inference path (resize, sliding...)."""
    with torch.no_grad():
        gate = class_gate(head.conv_seg.weight, dropped_class)
    head.cls_seg = lambda feat: classifier(head.class_drop(feat, gate))
    try:
        yield
    finally:
        del head.cls_seg


@contextmanager
def _frozen(model):
    """No gradients for ``model``'s own parameters inside the block."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _cycle(loader):
    while True:
        yield from loader


def train_probe(model, dropped_class, iters=1000, lr=0.01, momentum=0.9, weight_decay=5e-4,
                dataloader=None, seed=0, progress=True):
    """Train a new 1x1 classifier h' on A_drop of the frozen ``model``; returns (h', losses).

    Args:
        model (nn.Module): mmseg segmentor with a DropClass decode head (weights stay frozen).
        dropped_class (int | None): z, dropped at every iteration (None: nothing dropped).
        iters (int): training iterations of h'.
        dataloader (dict, optional): default ``model.cfg.train_dataloader``.
    """
    head = dropclass_head(model)
    model.eval()
    device = head.conv_seg.weight.device
    generator = torch.Generator().manual_seed(seed)
    probe = nn.Conv2d(head.conv_seg.in_channels, head.conv_seg.out_channels, 1).to(device)
    with torch.no_grad():
        probe.weight.copy_(torch.randn(probe.weight.shape, generator=generator) * 0.01)
        probe.bias.zero_()
    optimizer = torch.optim.SGD(probe.parameters(), lr=lr, momentum=momentum,
                                weight_decay=weight_decay)
    loader = Runner.build_dataloader(copy.deepcopy(dataloader or model.cfg.train_dataloader),
                                     seed=seed)
    losses, bar = [], ProgressBar(iters) if progress else None
    with replaced_classifier(head, probe, dropped_class), _frozen(model):
        for batch in itertools.islice(_cycle(loader), iters):
            data = model.data_preprocessor(batch, True)
            with torch.no_grad():
                feats = model.extract_feat(data['inputs'])
            label = head._stack_batch_gt(data['data_samples']).squeeze(1).long()
            logits = resize(head(feats), size=label.shape[1:], mode='bilinear',
                            align_corners=head.align_corners)
            loss = F.cross_entropy(logits, label, ignore_index=head.ignore_index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.file.write('\n')
    return probe, losses


def _samples(model, num_samples, head, probe, dropped_class):
    """Image (RGB), GT, normal and h' predictions, all at original size, for the first images."""
    loader = Runner.build_dataloader(copy.deepcopy(model.cfg.test_dataloader))
    samples = []
    with torch.no_grad():
        for batch in itertools.islice(loader, num_samples):
            # test_step writes pred_sem_seg into the batch's data samples: copy it out each time
            normal = [s.pred_sem_seg.data[0].cpu().numpy() for s in model.test_step(batch)]
            with replaced_classifier(head, probe, dropped_class):
                outputs = model.test_step(batch)
            for s, pred in zip(outputs, normal):
                samples.append(dict(image=mmcv.imread(s.img_path, channel_order='rgb'),
                                    gt=s.gt_sem_seg.data[0].cpu().numpy(), normal=pred,
                                    dropped=s.pred_sem_seg.data[0].cpu().numpy(),
                                    name=osp.basename(s.img_path)))
    return samples[:num_samples]


def disentanglement_check(model, dropped_class, classes, iters=1000, lr=0.01, momentum=0.9,
                          weight_decay=5e-4, num_samples=4, control=False, seed=0, progress=True):
    """Train h' on A_drop with z always dropped and compare z's test IoU with the normal model's.

    Args:
        model (nn.Module): DropClass segmentor (``init_segmentor``; ``model.cfg`` gives the data).
        dropped_class (int | str): z.
        classes (Sequence[str]): the dataset's class names.
        num_samples (int): test images kept for qualitative figures.
        control (bool): also train h' with nothing dropped (same budget) as a reference.

    Returns:
        dict: ``dropped_class``; per-class test IoU (%) ``iou`` {'normal', 'dropped'[, 'control']};
        ``z_iou`` for the same; ``other_miou`` (mean over the other classes); ``losses`` of h';
        ``samples`` (arrays for figures).
    """
    head = dropclass_head(model)
    classes = list(classes)
    zs = resolve_classes(dropped_class, classes)
    if len(zs) != 1:
        raise ValueError(f'the disentanglement check drops exactly one class, got {zs}')
    z = zs[0]
    iou = {'normal': per_class_iou(evaluate(model, progress=False), classes)}
    probes, losses = {}, {}
    for name, drop in [('dropped', z)] + ([('control', None)] if control else []):
        probes[name], losses[name] = train_probe(model, drop, iters, lr, momentum, weight_decay,
                                                 seed=seed, progress=progress)
        with replaced_classifier(head, probes[name], drop):
            iou[name] = per_class_iou(evaluate(model, progress=False), classes)
    others = [i for i in range(len(classes)) if i != z]
    return dict(dropped_class=classes[z], classes=classes, iters=iters, lr=lr,
                iou={k: v.tolist() for k, v in iou.items()},
                z_iou={k: float(v[z]) for k, v in iou.items()},
                other_miou={k: float(np.nanmean(v[others])) for k, v in iou.items()},
                losses=losses, samples=_samples(model, num_samples, head, probes['dropped'], z))


def save_disentanglement(result, out_dir):
    """Write ``disentanglement.json`` (no image arrays) and ``disentanglement.{csv,md}``."""
    json_path = osp.join(out_dir, 'disentanglement.json')
    dump_json({k: v for k, v in result.items() if k != 'samples'}, json_path)
    runs = list(result['iou'])
    header = ['class'] + [f'IoU {r}' for r in runs]
    z = result['dropped_class']
    rows = [[c + (' (dropped)' if c == z else '')] + [result['iou'][r][i] for r in runs]
            for i, c in enumerate(result['classes'])]
    rows.append(['mIoU of the other classes'] + [result['other_miou'][r] for r in runs])
    stem = osp.join(out_dir, 'disentanglement')
    write_table(stem, header, rows, digits=1)
    return [json_path, f'{stem}.csv', f'{stem}.md']
