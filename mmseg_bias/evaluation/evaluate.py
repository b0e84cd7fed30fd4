"""Evaluate a built segmentor on a dataset, with extra transforms in its test pipeline."""
import copy

import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

__all__ = ['evaluate']


def _insert_transforms(pipeline, transforms, after):
    """``pipeline`` with ``transforms`` inserted after its first step of type ``after``."""
    types = [step['type'] for step in pipeline]
    if after not in types:
        raise ValueError(f'the test pipeline has no {after!r} step to insert transforms after; '
                         f'its steps are {types}')
    i = types.index(after) + 1
    return list(pipeline[:i]) + [dict(t) for t in transforms] + list(pipeline[i:])


def evaluate(model, transforms=(), after='LoadImageFromFile', dataloader=None, progress=True,
             extra_metrics=()):
    """Evaluate a built segmentor on its config's test set, optionally with extra transforms.

    Args:
        model (nn.Module): a segmentor, e.g. from :func:`init_segmentor` (whose ``model.cfg``
            supplies the test dataloader when ``dataloader`` is not given).
        transforms (Sequence[dict]): transform configs inserted into the test pipeline right after
            its ``after`` step (e.g. a corruption after ``LoadImageFromFile``).
        dataloader (dict, optional): dataloader config; default ``model.cfg.test_dataloader``.
        progress (bool): show a progress bar.
        extra_metrics (Sequence[dict]): more metric configs evaluated in the same pass.

    Returns:
        dict: mmseg's IoUMetric results (``aAcc``, ``mIoU``, ``mAcc``, in %) plus ``IoU.<class>``,
        and the extra metrics' results.
    """
    cfg = getattr(model, 'cfg', None)
    if dataloader is None and cfg is None:
        raise ValueError('evaluate needs a dataloader config, or a model from init_segmentor '
                         '(which carries its config as model.cfg)')
    init_default_scope(cfg.get('default_scope', 'mmseg') if cfg is not None else 'mmseg')
    loader_cfg = copy.deepcopy(dataloader or cfg.test_dataloader)
    loader_cfg['dataset']['pipeline'] = _insert_transforms(loader_cfg['dataset']['pipeline'],
                                                           transforms, after)
    loader = Runner.build_dataloader(loader_cfg)
    evaluator = Evaluator([dict(type='ClassIoUMetric', iou_metrics=['mIoU']), *extra_metrics])
    evaluator.dataset_meta = loader.dataset.metainfo
    bar = ProgressBar(len(loader)) if progress and is_main_process() else None
    model.eval()
    with torch.no_grad():
        for batch in loader:
            evaluator.process(data_samples=model.test_step(batch), data_batch=batch)
            if bar is not None:
                bar.update()
    return evaluator.evaluate(len(loader.dataset))
