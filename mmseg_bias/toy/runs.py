"""One benchmark run: a Texture-MNIST dataset and a model trained on it, both reused when a
finished one with the same settings exists (the benchmark's resume), plus the result cache.

Layout under the benchmark folder: ``data/<run>/`` (the dataset), ``models/<run>/`` (work dir,
checkpoint, ``benchmark_train.json``), ``runs/<run>/*.json`` (cached results).
"""
import copy
import json
import os.path as osp
import time

from mmseg_bias.apis import init_segmentor, load_config, train
from mmseg_bias.utils import dump_json, load_json

from .generator import generate_texture_mnist

__all__ = ['run_name', 'as_settings', 'cached', 'set_data_root', 'schedule_options',
           'PAPER_SCHEDULE', 'train_model', 'load_run']

# The paper's schedule (supp. §S1.2) as config overrides: 50 epochs, batch 100, lr 1e-3, / 10
# after epoch 40 (configs/toy/unet_texture_mnist_50e.py for the toy U-Net).
PAPER_SCHEDULE = {
    'optim_wrapper.optimizer.lr': 1e-3,
    'train_dataloader.batch_size': 100,
    'train_dataloader.sampler': dict(type='DefaultSampler', shuffle=True),
    'train_cfg': dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=50, val_interval=50),
    'param_scheduler': [dict(type='MultiStepLR', by_epoch=True, milestones=[40], gamma=0.1)],
    'default_hooks.logger.log_metric_by_epoch': True,
    'default_hooks.checkpoint.by_epoch': True,
    'default_hooks.checkpoint.interval': 50,
}


def run_name(seed, digit=None, texture=None):
    """'seed<s>_unbiased' or 'seed<s>_d<digit>_<texture>'."""
    return f'seed{seed}_unbiased' if digit is None else f'seed{seed}_d{digit}_{texture}'


def as_settings(obj):
    """A JSON round trip, so settings compare equal to what a file holds."""
    return json.loads(json.dumps(obj, default=str))


def cached(path, settings, compute):
    """``compute()``'s JSON-able result stored at ``path`` with ``settings``; reused while the
    settings match."""
    settings = as_settings(settings)
    if osp.isfile(path):
        record = load_json(path)
        if record.get('settings') == settings:
            return record['result']
    result = compute()
    dump_json(dict(settings=settings, result=result), path)
    return result


def set_data_root(cfg, data_root):
    """Point the config's train / val / test datasets at ``data_root`` (in place)."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key]['dataset']['data_root'] = data_root
    return cfg


def schedule_options(iters=None, batch_size=None, lr_drop=0.8):
    """cfg options: ``iters`` iterations with the lr divided by 10 after ``lr_drop`` of them
    (the paper's 40 of 50 epochs) and one checkpoint at the end; ``batch_size`` images per
    iteration. None leaves the config's value."""
    options = {}
    if iters:
        options.update({
            'train_cfg': dict(_delete_=True, type='IterBasedTrainLoop', max_iters=int(iters),
                              val_interval=int(iters)),
            'param_scheduler': [dict(type='MultiStepLR', by_epoch=False,
                                     milestones=[max(1, int(iters * lr_drop))], gamma=0.1)],
            'default_hooks.checkpoint.interval': int(iters),
            'default_hooks.checkpoint.by_epoch': False})
    if batch_size:
        options['train_dataloader.batch_size'] = int(batch_size)
    return options


def train_model(config, data_root, work_dir, cfg_options=None, data_params=None):
    """Train ``config`` on the dataset at ``data_root`` without validation (the benchmark
    evaluates afterwards), or reuse the run recorded in ``work_dir/benchmark_train.json`` when
    it has the same config, options and dataset parameters.

    Returns:
        tuple[Config, str, float]: the config (data root set), its final checkpoint and the
        training time in seconds (of the run that made it).
    """
    cfg = set_data_root(load_config(config, copy.deepcopy(cfg_options), work_dir), data_root)
    record_path = osp.join(work_dir, 'benchmark_train.json')
    settings = as_settings(dict(config=osp.abspath(config) if osp.isfile(str(config)) else config,
                                cfg_options=cfg_options, data=data_params))
    if osp.isfile(record_path):
        record = load_json(record_path)
        if record.get('settings') == settings and osp.isfile(record['checkpoint']):
            return cfg, record['checkpoint'], record['seconds']
    run_cfg = copy.deepcopy(cfg)
    run_cfg.val_cfg = run_cfg.val_dataloader = run_cfg.val_evaluator = None
    start = time.perf_counter()
    train(run_cfg, work_dir=work_dir)
    seconds = time.perf_counter() - start
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    dump_json(dict(settings=settings, checkpoint=checkpoint, seconds=seconds), record_path)
    return cfg, checkpoint, seconds


def load_run(out_dir, config, seed, digit=None, texture=None, strength='strong',
             data_options=None, cfg_options=None, device='cpu'):
    """Generate (or reuse) one run's dataset, train (or reuse) its model and load it.

    Returns:
        dict: ``name``, ``seed``, ``digit``, ``texture``, ``data_root``, ``meta`` (dataset
        description), ``cfg``, ``checkpoint``, ``model``, ``settings`` (identifies model and
        data for result caches), ``data_seconds`` (this call) and ``train_seconds`` (of the run
        that trained the model).
    """
    name = run_name(seed, digit, texture)
    root = osp.abspath(osp.join(out_dir, 'data', name))
    start = time.perf_counter()
    bias = None if digit is None else {int(digit): texture}
    meta = generate_texture_mnist(root, bias=bias, strength=strength, seed=seed, progress=False,
                                  **(data_options or {}))
    data_seconds = time.perf_counter() - start
    cfg, checkpoint, train_seconds = train_model(
        config, root, osp.join(out_dir, 'models', name), cfg_options, meta['params'])
    return dict(name=name, seed=seed, digit=digit, texture=texture, data_root=root, meta=meta,
                cfg=cfg, checkpoint=checkpoint,
                model=init_segmentor(cfg, checkpoint, device=device),
                settings=as_settings(dict(checkpoint=checkpoint,
                                          mtime=osp.getmtime(checkpoint), data=meta['params'])),
                data_seconds=data_seconds, train_seconds=train_seconds)
