"""DropClass through the Runner: the progress hook, resume, DDP-wrapped models, every config."""
import glob
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import HOOKS, MODELS

import datafactory
import mmseg_bias  # noqa: F401
from helpers import REPO
from mmseg_bias.compat import CPUDistributedDataParallel
from mmseg_bias.engine.hooks import DropClassProgressHook

DROPCLASS_CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', 'dropclass', '*.py'))
                           if not p.endswith('_baseline.py'))


def _model_with_dropclass_head():
    init_default_scope('mmseg')
    head = MODELS.build(dict(type='DropClassHead', base_type='FCNHead', num_classes=4, in_channels=3,
                             channels=4, num_convs=1, concat_input=False,
                             norm_cfg=dict(type='BN')))
    return torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), head), head


def _fake_runner(model, it, max_iters=10, seed=7, iters_per_epoch=4):
    return SimpleNamespace(model=model, iter=it, max_iters=max_iters, seed=seed,
                           train_dataloader=[None] * iters_per_epoch)


def _run_hook(hook, model, iters, max_iters=10, start=0):
    """(t, z) the head holds at each iteration from ``start``."""
    hook.before_train(_fake_runner(model, start, max_iters))
    head = hook._heads[0]
    seen = []
    for it in range(start, iters):
        hook.before_train_iter(_fake_runner(model, it, max_iters), it)
        seen.append((head.progress, head.dropped_class))
    return seen


def test_progress_per_iteration_and_deterministic_draws():
    model, _ = _model_with_dropclass_head()
    seen = _run_hook(DropClassProgressHook(), model, 10)
    assert [t for t, _ in seen] == pytest.approx([i / 10 for i in range(10)])
    assert seen[0][1] is None  # t = 0: never dropped
    assert any(z is not None for _, z in seen[5:])
    assert seen == _run_hook(DropClassProgressHook(), model, 10), 'same seed, same classes'


def test_progress_continues_after_resume():
    model, _ = _model_with_dropclass_head()
    uninterrupted = _run_hook(DropClassProgressHook(), model, 10)
    resumed = _run_hook(DropClassProgressHook(), model, 10, start=6)  # a new hook, as after --resume
    assert resumed == uninterrupted[6:]


def test_progress_per_epoch():
    model, _ = _model_with_dropclass_head()
    seen = _run_hook(DropClassProgressHook(by_epoch=True), model, 12, max_iters=12)
    assert [t for t, _ in seen] == pytest.approx([0.0] * 4 + [1 / 3] * 4 + [2 / 3] * 4)


def test_hook_unwraps_a_ddp_model(gloo_group):
    model, head = _model_with_dropclass_head()
    wrapped = CPUDistributedDataParallel(model)
    hook = DropClassProgressHook()
    hook.before_train(_fake_runner(wrapped, 0))
    assert hook._heads == [wrapped.module[1]]
    hook.before_train_iter(_fake_runner(wrapped, 3), 3)
    assert wrapped.module[1].progress == pytest.approx(0.3)


def test_hook_without_dropclass_head_fails_clearly():
    with pytest.raises(RuntimeError, match='no DropClass head'):
        DropClassProgressHook().before_train(_fake_runner(torch.nn.Conv2d(1, 1, 1), 0))


def _tiny_cfg(path, tmp_path, cityscapes_root, voc_root, iters=2):
    cfg = Config.fromfile(path)
    root = voc_root if '_voc' in osp.basename(path) else cityscapes_root
    datafactory.shrink_config(cfg, root, str(tmp_path), iters=iters)
    cfg.experiment_name = f'{osp.basename(path)}_{tmp_path.name}'
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.parametrize('path', DROPCLASS_CONFIGS, ids=osp.basename)
def test_each_dropclass_config_trains_two_iterations(path, tmp_path, cityscapes_root, voc_root):
    runner = Runner.from_cfg(_tiny_cfg(path, tmp_path, cityscapes_root, voc_root))
    runner.train()
    hub = runner.message_hub
    assert hub.get_scalar('train/decode.dropclass_p').data[0].tolist() == [0.0, 0.5]
    assert 'train/decode.loss_ce_drop' in hub.log_scalars
    assert 'train/decode.loss_suppress' in hub.log_scalars
    if 'deeplabv3_r50' in path:  # the auxiliary FCN head keeps its plain loss
        assert 'train/aux.loss_ce' in hub.log_scalars
        assert 'train/aux.loss_ce_drop' not in hub.log_scalars
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))


@HOOKS.register_module(force=True)
class _InterruptAfter(Hook):
    """Stops training after iteration ``stop`` (after its checkpoint), like a crashed job."""
    priority = 'LOWEST'

    def __init__(self, stop):
        self.stop = stop

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == self.stop:
            raise KeyboardInterrupt


def test_resumed_dropclass_run_continues_its_schedule(tmp_path, cityscapes_root, voc_root):
    path = osp.join(REPO, 'configs', 'dropclass', 'hrnet_w18s_cityscapes.py')
    cfg = _tiny_cfg(path, tmp_path, cityscapes_root, voc_root, iters=4)
    cfg.default_hooks.checkpoint.interval = 2
    first = cfg.copy()
    first.custom_hooks = cfg.custom_hooks + [dict(type='_InterruptAfter', stop=2)]
    with pytest.raises(KeyboardInterrupt):
        Runner.from_cfg(first).train()
    cfg.resume = True
    cfg.experiment_name += '_resumed'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    assert runner.message_hub.get_scalar('train/decode.dropclass_p').data[0].tolist() == \
        pytest.approx([0.0, 0.25, 0.5, 0.75])
