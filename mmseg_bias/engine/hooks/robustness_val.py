"""Corruption robustness during training: a few corrupted validations next to the clean one."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...datasets.transforms.corruption import ImageCorruption
from ...evaluation.evaluate import evaluate_conditions
from ...evaluation.robustness import condition_key


@HOOKS.register_module()
class RobustnessValHook(Hook):
    """After every validation, evaluate the validation set under ``conditions`` and log the results.

    Logged (and added to the validation metrics): ``<corruption>-<severity>/mIoU`` per condition
    and ``mPC``, their mean.

    Args:
        conditions (list[tuple[str, int]]): (corruption, severity) pairs, e.g.
            ``[('gaussian_noise', 3), ('motion_blur', 3), ('fog', 3), ('contrast', 3)]``.
        after (str): pipeline step after which to corrupt ('LoadImageFromFile' or 'Resize').
        seed (int): corruption seed.
    """

    priority = 'ABOVE_NORMAL'  # after RuntimeInfoHook, before LoggerHook and CheckpointHook

    def __init__(self, conditions=(('gaussian_noise', 3), ('motion_blur', 3), ('fog', 3),
                                   ('contrast', 3)), after='LoadImageFromFile', seed=0):
        self.conditions = [(c, int(s)) for c, s in conditions]
        for corruption, severity in self.conditions:
            ImageCorruption(corruption, severity)  # validates names and severities at build time
        if not self.conditions:
            raise ValueError('RobustnessValHook needs at least one (corruption, severity) condition')
        self.after = after
        self.seed = seed

    def after_val_epoch(self, runner, metrics=None):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        transforms = [[dict(type='ImageCorruption', corruption=corruption, severity=severity,
                            seed=self.seed)] for corruption, severity in self.conditions]
        values = {}
        for i, result in evaluate_conditions(model, transforms, self.after,
                                             runner.cfg.val_dataloader, progress=False,
                                             log_tables=False):
            values[f'{condition_key(*self.conditions[i])}/mIoU'] = float(result['mIoU'])
        values['mPC'] = sum(values.values()) / len(self.conditions)
        for key, value in values.items():
            runner.message_hub.update_scalar(f'val/{key}', value)
        if metrics is not None:
            metrics.update(values)
        runner.logger.info('corruption robustness: ' +
                           '  '.join(f'{k} {v:.2f}' for k, v in values.items()))
