"""The few functions a user calls from Python: load a config, train, test, load and evaluate a model.

``tools/train.py`` and ``tools/test.py`` are thin argument parsers over :func:`train` and :func:`test`,
and behave like MMSeg's own tools (same options), plus the CPU-only distributed launch of
:mod:`mmseg_bias.compat`.
"""
import logging
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.dist import init_dist
from mmengine.hub import get_config
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import Runner
from mmseg.apis import init_model
from mmseg.registry import RUNNERS

from .compat import init_cpu_process_group, prepare_cpu_distributed
from .evaluation.evaluate import evaluate

__all__ = ['read_config', 'load_config', 'build_runner', 'train', 'test', 'init_segmentor', 'evaluate', 'init_launch']


def read_config(config):
    """A :class:`Config` (a copy) from a Config, a file path or a packaged config such as
    ``mmseg::hrnet/fcn_hr18s_4xb2-80k_cityscapes-512x1024.py``."""
    if isinstance(config, Config):
        return config.copy()
    if '::' in str(config) and not osp.isfile(config):
        return get_config(config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} does not exist; pass the path of a config '
                                'such as configs/dropclass/hrnet_w48_cityscapes.py, or mmseg::<path>')
    return Config.fromfile(config)


def load_config(config, cfg_options=None, work_dir=None, launcher='none'):
    """Read ``config`` (as :func:`read_config`), merge ``cfg_options`` and resolve ``work_dir``.

    work_dir priority, as in MMSeg: argument > config > ``./work_dirs/<config name>``.
    """
    cfg = read_config(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def build_runner(cfg):
    """Build the Runner (or ``cfg.runner_type``) after preparing a CPU-only distributed launch."""
    prepare_cpu_distributed(cfg, cfg.get('launcher', 'none'))
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def _enable_amp(cfg):
    if not torch.cuda.is_available():
        raise RuntimeError('--amp needs a CUDA GPU (mmengine\'s AmpOptimWrapper does not run on CPU); '
                           'drop --amp on this machine')
    optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_type == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current',
                  level=logging.WARNING)
        return
    if optim_type != 'OptimWrapper':
        raise ValueError(f'--amp works with optim_wrapper type OptimWrapper, but the config uses '
                         f'{optim_type}; set optim_wrapper.type=AmpOptimWrapper in the config instead')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def train(config, work_dir=None, resume=False, amp=False, cfg_options=None, launcher='none'):
    """Train a model from an MMSeg config through the mmengine Runner.

    Args:
        config (str | Config): config path or loaded config.
        work_dir (str, optional): where logs and checkpoints go.
        resume (bool | str): resume from the latest checkpoint in ``work_dir`` (True) or this file.
        amp (bool): automatic mixed precision (CUDA only).
        cfg_options (dict, optional): overrides merged into the config.
        launcher (str): ``none`` | ``pytorch`` | ``slurm`` | ``mpi``.

    Returns:
        Runner: the runner after training.
    """
    cfg = load_config(config, cfg_options, work_dir, launcher)
    if amp:
        _enable_amp(cfg)
    if isinstance(resume, str):
        cfg.resume, cfg.load_from = True, resume
    else:
        cfg.resume = bool(resume)
    runner = build_runner(cfg)
    runner.train()
    return runner


def test(config, checkpoint, work_dir=None, out=None, show_dir=None, tta=False, cfg_options=None,
         launcher='none'):
    """Evaluate ``checkpoint`` on the config's test set; returns the metrics dict (e.g. ``mIoU``).

    Args:
        out (str, optional): directory where predictions are saved (as MMSeg's ``--out``).
        show_dir (str, optional): directory for painted predictions (VisualizationHook).
        tta (bool): use the config's ``tta_model`` and ``tta_pipeline``.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist; pass a .pth written by '
                                'tools/train.py (e.g. work_dirs/<config>/iter_80000.pth)')
    cfg = load_config(config, cfg_options, work_dir, launcher)
    cfg.load_from = checkpoint
    if show_dir:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise ValueError("--show-dir needs default_hooks.visualization=dict(type='SegVisualizationHook')"
                             ' in the config')
        hook['draw'] = True
        cfg.visualizer['save_dir'] = show_dir
    if tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('--tta needs tta_model and tta_pipeline in the config (stock MMSeg '
                             'dataset configs define tta_pipeline; models inherit tta_model from '
                             'default_runtime)')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if out is not None:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        for evaluator in evaluators:
            evaluator['output_dir'] = out
            evaluator['keep_results'] = True
    runner = build_runner(cfg)
    return runner.test()


def init_segmentor(config, checkpoint=None, device='cpu', cfg_options=None):
    """Build a segmentor for inference: ``mmseg.apis.init_model`` with SyncBN reverted to BN.

    Args:
        config (str | Config): model config (its ``test_dataloader`` is used by :func:`evaluate`).
        checkpoint (str, optional): weights; loaded through the safe loader of
            :mod:`mmseg_bias.compat`.
        device (str): 'cpu' or 'cuda:0', ...

    Returns:
        nn.Module: the model in eval mode, with its config as ``model.cfg``.
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    model = init_model(config, checkpoint, device=device, cfg_options=cfg_options)
    return revert_sync_batchnorm(model).eval()


def init_launch(launcher, device=None):
    """Join the process group of a launched multi-process evaluation; returns the device to use.

    Each process then evaluates its shard of the test set (mmengine's DefaultSampler) and the
    metrics are collected across processes. On a machine without CUDA, gloo CPU processes.
    """
    if launcher == 'none':
        return device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    if torch.cuda.is_available():
        init_dist(launcher)
        return f'cuda:{torch.cuda.current_device()}'
    if launcher != 'pytorch':
        raise RuntimeError(f"launcher '{launcher}' needs CUDA GPUs; on a CPU-only machine launch "
                           'with torchrun (--launcher pytorch)')
    init_cpu_process_group()
    return 'cpu'
