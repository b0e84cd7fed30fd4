"""Feeds DropClass heads their training progress t and the class to drop, every train iteration."""
import math

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...models.heads.class_drop import DropClassMixin


@HOOKS.register_module()
class DropClassProgressHook(Hook):
    """Set t (λ = 1 − t, drop probability p = t) and draw z for every DropClass head.

    t is computed from the runner's iteration, so it continues after ``--resume`` rather than
    restarting. z is drawn from a generator seeded with (runner seed, iteration): every DDP rank
    drops the same class, and a resumed run draws what the uninterrupted one would have.

    Args:
        by_epoch (bool): False (default): t = iter / max_iters, updated every iteration.
            True: t = epoch / max_epochs, constant within an epoch (the authors' choice), with
            epochs of ``len(train_dataloader)`` iterations.
    """

    priority = 'NORMAL'

    def __init__(self, by_epoch=False):
        self.by_epoch = by_epoch
        self._heads = []

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._heads = [m for m in model.modules() if isinstance(m, DropClassMixin)]
        if not self._heads:
            raise RuntimeError('DropClassProgressHook found no DropClass head in the model; use '
                               "decode_head=dict(type='DropClassHead', base_type=...) or remove the hook")

    def progress(self, runner):
        """Training progress t in [0, 1) before the current iteration."""
        if not self.by_epoch:
            return runner.iter / runner.max_iters
        per_epoch = len(runner.train_dataloader)
        return (runner.iter // per_epoch) / math.ceil(runner.max_iters / per_epoch)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        generator = torch.Generator().manual_seed(
            ((runner.seed or 0) * 1_000_003 + runner.iter) % (2**63))
        t = self.progress(runner)
        for head in self._heads:
            head.update_schedule(t, generator)
