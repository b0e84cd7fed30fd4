"""End-to-end through the real command lines: train, resume, test, 2-process CPU launch, stock CLI."""
import glob
import json
import os.path as osp
import re
import sys

import mmseg
import pytest

import datafactory
from helpers import REPO, run_cli


def _last_metrics(work_dir):
    """Metrics dict of the newest ``<timestamp>/<timestamp>.json`` written by runner.test()."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    assert files, f'no metrics json under {work_dir}'
    with open(files[-1]) as f:
        return json.load(f)


def test_train_resume_test_through_cli(tmp_path, cityscapes_root):
    config = datafactory.write_tiny_config(
        str(tmp_path / 'tiny.py'), datafactory.TINY_BASE, cityscapes_root, iters=4, ckpt_interval=2)
    work = str(tmp_path / 'work')
    # first run stops at iteration 2 (as if interrupted); the checkpoint holds the full state
    run_cli([sys.executable, 'tools/train.py', config, '--work-dir', work,
             '--cfg-options', 'train_cfg.max_iters=2'])
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    out = run_cli([sys.executable, 'tools/train.py', config, '--work-dir', work, '--resume'])
    assert re.search(r'resumed (epoch: \d+, )?iter: 2', out), out[-3000:]
    assert re.search(r'Iter\(train\) \[4/4\]', out)
    assert not re.search(r'Iter\(train\) \[[12]/4\]', out), 'resume restarted from scratch'
    assert osp.isfile(osp.join(work, 'iter_4.pth'))

    test_work = str(tmp_path / 'test')
    out = run_cli([sys.executable, 'tools/test.py', config, osp.join(work, 'iter_4.pth'),
                   '--work-dir', test_work, '--show-dir', str(tmp_path / 'show'),
                   '--cfg-options', 'default_hooks.visualization.interval=1'])
    assert 'mIoU' in out
    metrics = _last_metrics(test_work)
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert glob.glob(osp.join(str(tmp_path / 'show'), '**', '*.png'), recursive=True)


def test_load_from_initialises_a_new_run(tmp_path, tiny_config, trained_checkpoint):
    _, ckpt = trained_checkpoint
    out = run_cli([sys.executable, 'tools/train.py', tiny_config, '--work-dir', str(tmp_path),
                   '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_iters=1'])
    assert f'Load checkpoint from {ckpt}' in out


def test_dist_train_two_cpu_processes(tmp_path, cityscapes_root):
    """The flagship command's shape: dist_train.sh on a DropClass config (here W18-Small)."""
    base = osp.join(REPO, 'configs', 'dropclass', 'hrnet_w18s_cityscapes.py')
    config = datafactory.write_tiny_config(str(tmp_path / 'tiny_dropclass.py'), base,
                                           cityscapes_root)
    work = str(tmp_path / 'dist')
    out = run_cli(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work],
                  env={'PORT': '29517', 'CUDA_VISIBLE_DEVICES': ''})
    assert 'CPU-only distributed run: gloo process group, rank 0 of 2' in out
    assert re.search(r'Iter\(train\) \[2/2\].*decode\.loss_ce_drop.*decode\.dropclass_p: 0\.5000',
                     out)
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_stock_mmseg_cli_accepts_plugin_configs(tmp_path, tiny_config):
    stock_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(stock_train)
    out = run_cli([sys.executable, stock_train, tiny_config, '--work-dir', str(tmp_path)])
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth')), out[-2000:]


def test_amp_on_cpu_fails_with_one_line_advice(tmp_path, tiny_config):
    import torch
    from mmseg_bias.apis import train
    if torch.cuda.is_available():
        pytest.skip('CPU-only behaviour')
    with pytest.raises(RuntimeError, match='--amp needs a CUDA GPU'):
        train(tiny_config, work_dir=str(tmp_path), amp=True)


def test_missing_inputs_get_clear_errors(tmp_path, tiny_config):
    from mmseg_bias.apis import test, train
    with pytest.raises(FileNotFoundError, match='config file'):
        train(str(tmp_path / 'nope.py'))
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        test(tiny_config, str(tmp_path / 'nope.pth'))


def test_evaluate_matches_the_test_tool_and_reports_each_class(tmp_path, tiny_config,
                                                               trained_checkpoint):
    from mmseg_bias.apis import evaluate, init_segmentor, test
    _, ckpt = trained_checkpoint
    reference = test(tiny_config, ckpt, work_dir=str(tmp_path))
    model = init_segmentor(tiny_config, ckpt)
    metrics = evaluate(model, progress=False)
    assert metrics['mIoU'] == pytest.approx(reference['mIoU'])
    per_class = [v for k, v in metrics.items() if k.startswith('IoU.')]
    assert len(per_class) == datafactory.CITYSCAPES_CLASSES
    import numpy as np
    assert np.nanmean(per_class) == pytest.approx(metrics['mIoU'], abs=0.01)
    logits = [dict(type='LogitStructureMetric')]
    plain = evaluate(model, progress=False, extra_metrics=logits)
    assert plain['mIoU'] == metrics['mIoU']
    faded = evaluate(model, transforms=[dict(type='ImageCorruption', corruption='contrast',
                                             severity=5)], progress=False, extra_metrics=logits)
    # the transform really ran: the mean logits (untrained or not) move
    assert not np.allclose(plain['logit/centroids'], faded['logit/centroids'], equal_nan=True)
    with pytest.raises(ValueError, match='no .Nope. step'):
        evaluate(model, transforms=[dict(type='RandomFlip', prob=1.0)], after='Nope')


def test_read_config_takes_paths_and_packaged_stock_configs(tiny_config):
    from mmseg_bias.apis import read_config
    stock = read_config('mmseg::hrnet/fcn_hr18s_4xb2-80k_cityscapes-512x1024.py')
    assert stock.model.decode_head.type == 'FCNHead' and stock.train_dataloader.batch_size == 2
    assert read_config(tiny_config).filename == tiny_config
    with pytest.raises(FileNotFoundError, match='or mmseg::<path>'):
        read_config('configs/no_such_config.py')
