"""Evaluate a built segmentor on a dataset under one or many test-time conditions.

A condition is a list of transforms inserted into the test pipeline (e.g. one corruption).
:func:`evaluate_conditions` runs many conditions as one pass of one dataloader
(:class:`~mmseg_bias.datasets.condition_sweep.ConditionSweep`) and yields each condition's metrics
as soon as its last image is processed; :func:`evaluate` is the one-condition case.
"""
import copy
import logging
from contextlib import contextmanager
from functools import partial

import torch
from mmengine.dist import get_dist_info, is_main_process
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from ..datasets.condition_sweep import ConditionSweep

__all__ = ['evaluate', 'evaluate_conditions']


def _build_loader(loader_cfg, dataset):
    """A plain DataLoader over ``dataset`` (already this rank's share) with the config's batch size,
    workers and collate function."""
    collate = dict(loader_cfg.get('collate_fn', dict(type='pseudo_collate')))
    collate_fn = FUNCTIONS.get(collate.pop('type'))
    workers = loader_cfg.get('num_workers', 0)
    return DataLoader(dataset, batch_size=loader_cfg.get('batch_size', 1), shuffle=False,
                      num_workers=workers, collate_fn=partial(collate_fn, **collate),
                      pin_memory=loader_cfg.get('pin_memory', False),
                      persistent_workers=False, prefetch_factor=2 if workers else None)


@contextmanager
def _log_level(level):
    logger = MMLogger.get_current_instance()
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def evaluate_conditions(model, conditions, after='LoadImageFromFile', dataloader=None,
                        progress=True, extra_metrics=(), log_tables=True):
    """Evaluate ``model`` under every condition in one pass; yield ``(index, metrics)`` in order.

    Args:
        model (nn.Module): a segmentor, e.g. from ``mmseg_bias.apis.init_segmentor`` (whose
            ``model.cfg`` supplies the test dataloader when ``dataloader`` is not given).
        conditions (Sequence[Sequence[dict]]): per condition, transform configs inserted into the
            test pipeline right after its ``after`` step (``[]``: the plain pipeline).
        dataloader (dict, optional): dataloader config (batch size, workers, plain dataset);
            default ``model.cfg.test_dataloader``. Under a distributed launch each rank takes its
            DefaultSampler share of every condition and the results are gathered as mmengine does.
        progress (bool): one progress bar over the whole pass.
        extra_metrics (Sequence[dict]): more metric configs evaluated per condition.
        log_tables (bool): let IoUMetric log its per-class table for each condition.

    Yields:
        tuple[int, dict]: the condition's index and mmseg's IoUMetric results (``aAcc``,
        ``mIoU``, ``mAcc``, in %) plus ``IoU.<class>`` and the extra metrics' results.
    """
    cfg = getattr(model, 'cfg', None)
    if dataloader is None and cfg is None:
        raise ValueError('evaluate needs a dataloader config, or a model from init_segmentor '
                         '(which carries its config as model.cfg)')
    init_default_scope(cfg.get('default_scope', 'mmseg') if cfg is not None else 'mmseg')
    loader_cfg = copy.deepcopy(dataloader or cfg.test_dataloader)
    rank, world_size = get_dist_info()
    dataset = ConditionSweep(loader_cfg['dataset'], conditions, after, rank, world_size)
    evaluators = []
    for _ in conditions:
        evaluator = Evaluator([dict(type='ClassIoUMetric', iou_metrics=['mIoU']),
                               *copy.deepcopy(list(extra_metrics))])
        evaluator.dataset_meta = dataset.metainfo
        evaluators.append(evaluator)
    loader = _build_loader(loader_cfg, dataset)
    bar = ProgressBar(len(loader)) if progress and is_main_process() else None
    seen = [0] * len(conditions)
    finished = 0
    model.eval()
    for batch in loader:
        with torch.no_grad():
            outputs = model.test_step(batch)
        for c in sorted({s.condition for s in outputs}):
            idx = [i for i, s in enumerate(outputs) if s.condition == c]
            part = {k: [v[i] for i in idx] for k, v in batch.items()}
            evaluators[c].process(data_samples=[outputs[i] for i in idx], data_batch=part)
            seen[c] += len(idx)
        if bar is not None:
            bar.update()
        while finished < len(conditions) and seen[finished] == dataset.images_per_condition:
            with _log_level(logging.INFO if log_tables else logging.WARNING):
                metrics = evaluators[finished].evaluate(dataset.num_images)
            yield finished, metrics
            finished += 1


def evaluate(model, transforms=(), after='LoadImageFromFile', dataloader=None, progress=True,
             extra_metrics=()):
    """Evaluate a built segmentor on its config's test set, optionally with extra transforms.

    Arguments as :func:`evaluate_conditions`, with ``transforms`` the one condition.

    Returns:
        dict: mmseg's IoUMetric results (``aAcc``, ``mIoU``, ``mAcc``, in %) plus ``IoU.<class>``,
        and the extra metrics' results.
    """
    for _, metrics in evaluate_conditions(model, [list(transforms)], after, dataloader, progress,
                                          extra_metrics):
        return metrics
