"""CBD / CBL (grid saliency §4, supp. Eqs. 6-7) on hand-made masks, the registered metric, the IoU
drop, and a smoke run of tools/saliency/context_bias_benchmark.py (resume included)."""
import csv
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from helpers import REPO, load_tool
from mmseg_bias.evaluation.context_bias import (ContextBiasMetric, context_bias_detection,
                                                context_bias_localization, iou_drop)


def _masks():
    """4x4: request R = top-left 2x2, bias B = bottom-right 2x2, M = 1 on the right half."""
    request = np.zeros((4, 4), bool)
    request[:2, :2] = True
    bias = np.zeros((4, 4), bool)
    bias[2:, 2:] = True
    saliency = np.zeros((4, 4))
    saliency[:, 2:] = 1.0
    return saliency, request, bias


def test_cbd_cbl_known_values():
    saliency, request, bias = _masks()
    # 8 of the 12 context pixels are salient; 4 of those 8 lie on the bias tile
    assert context_bias_detection(saliency, request) == pytest.approx(8 / 12)
    assert context_bias_localization(saliency, request, bias) == pytest.approx(0.5)
    # saliency inside the request never counts
    inside = saliency.copy()
    inside[request] = 1.0
    assert context_bias_detection(inside, request) == pytest.approx(8 / 12)
    assert context_bias_localization(inside, request, bias) == pytest.approx(0.5)
    # a uniform 0.5 map: CBD 0.5, CBL = bias share of the context (4 / 12)
    half = np.full((4, 4), 0.5)
    assert context_bias_detection(half, request) == pytest.approx(0.5)
    assert context_bias_localization(half, request, bias) == pytest.approx(4 / 12)
    # all saliency on the bias tile: CBL 1
    only_bias = bias.astype(float)
    assert context_bias_localization(only_bias, request, bias) == pytest.approx(1.0)


def test_cbd_cbl_batches_tensors_normalisation_and_nan():
    saliency, request, bias = _masks()
    maps = torch.tensor(np.stack([saliency, 3 * saliency, np.zeros((4, 4))]))
    requests = torch.tensor(np.stack([request] * 3))
    cbd = context_bias_detection(maps, requests)
    np.testing.assert_allclose(cbd, [8 / 12, 24 / 12, 0.0])
    # 'max' rescales each map by its maximum over the context
    np.testing.assert_allclose(context_bias_detection(maps, requests, normalise='max'),
                               [8 / 12, 8 / 12, 0.0])
    cbl = context_bias_localization(maps, requests, np.stack([bias] * 3))
    np.testing.assert_allclose(cbl[:2], [0.5, 0.5])
    assert np.isnan(cbl[2])  # no salient context: undefined
    assert np.isnan(context_bias_detection(np.ones((2, 2)), np.ones((2, 2), bool)))
    with pytest.raises(ValueError, match='same shape'):
        context_bias_detection(np.ones((4, 4)), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match='normalise'):
        context_bias_detection(saliency, request, normalise='sum')


def test_context_bias_metric_registered_and_averaged():
    from mmseg.registry import METRICS
    import mmseg_bias  # noqa: F401
    saliency, request, bias = _masks()
    metric = METRICS.build(dict(type='ContextBiasMetric', biased_classes=[4],
                                classes=['background'] + [str(d) for d in range(10)]))
    assert isinstance(metric, ContextBiasMetric)
    none = np.zeros((4, 4), bool)
    metric.process(None, [
        dict(saliency=saliency, request=request, request_class=4, bias_mask=bias),  # CBD 2/3
        dict(saliency=np.full((4, 4), 0.5), request=request, request_class=4,
             bias_mask=bias),                                                      # CBD 1/2
        dict(saliency=np.full((4, 4), 0.25), request=request, request_class=2,
             bias_mask=none),                                                      # CBD 1/4
        dict(saliency=np.ones((4, 4)), request=request, request_class=2, valid=False),
    ])
    out = metric.evaluate(4)
    p = 'context_bias/'
    assert out[p + 'num_maps'] == 4 and out[p + 'num_valid'] == 3
    assert out[p + 'CBD.3'] == pytest.approx((8 / 12 + 0.5) / 2)
    assert out[p + 'CBD.1'] == pytest.approx(0.25)  # the invalid map is not averaged
    assert out[p + 'CBL.3'] == pytest.approx((0.5 + 4 / 12) / 2)
    assert np.isnan(out[p + 'CBL.1'])  # no bias tile in class 2's image
    assert out[p + 'CBD.gap'] == pytest.approx((8 / 12 + 0.5) / 2 - 0.25)
    assert out[p + 'CBL.biased'] == pytest.approx((0.5 + 4 / 12) / 2)
    with pytest.raises(KeyError, match='request_class'):
        metric.process(None, [dict(saliency=saliency, request=request)])


def test_iou_drop():
    classes = ['background', '0', '3']
    unbiased = {'IoU.background': 95.0, 'IoU.0': 80.0, 'IoU.3': 90.0}
    biased = {'IoU.background': 94.0, 'IoU.0': 80.0, 'IoU.3': 10.0}
    np.testing.assert_allclose(iou_drop(unbiased, biased, classes), [0.01, 0.0, 0.8])
    assert np.isnan(iou_drop(unbiased, {}, classes)).all()


# --------------------------------------------------------------------------------------------
# smoke run of the benchmark tool


def _tool():
    return load_tool('tools/saliency/context_bias_benchmark.py')


# a 4-channel U-Net, 2 iterations, one test image per digit, few saliency steps
SMOKE = ['--config', osp.join(REPO, 'configs', 'toy', 'unet_texture_mnist.py'),
         '--digits', '3', '--textures', 'checker_8', '--seeds', '0', '--num-train', '24',
         '--num-test', '10', '--iters', '2', '--batch-size', '4', '--per-digit', '1',
         '--grid-steps', '3', '--ig-steps', '3', '--sg-samples', '3', '--threads', '1',
         '--cfg-options', 'model.backbone.base_channels=4', 'model.decode_head.in_channels=4',
         'model.decode_head.channels=4']


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    """One benchmark run (unbiased + one biased model, 2 iterations each), then the same
    command again; returns (out dir, tool module, first output, second output, mtimes)."""
    out = str(tmp_path_factory.mktemp('cbb'))
    tool = _tool()
    threads = torch.get_num_threads()
    try:
        first = tool.main(['--out', out, '--sweep', '--sweep-lam', '0.05', '0.2',
                           '--sweep-lr', '0.2', '--sweep-init', '0.5'] + SMOKE)
        stamps = {p: os.stat(p).st_mtime_ns for p in _cached_files(out)}
        second = tool.main(['--out', out] + SMOKE)
    finally:
        torch.set_num_threads(threads)
    return out, tool, first, second, stamps


def _cached_files(out):
    files = []
    for folder in ('models', 'runs'):
        for root, _, names in os.walk(osp.join(out, folder)):
            files += [osp.join(root, n) for n in names if n.endswith(('.pth', '.json'))]
    return files


def _csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_smoke_benchmark_writes_every_result(smoke):
    out, tool, first, _, _ = smoke
    for name in ['benchmark.json', 'runs.csv', 'iou_drop.csv', 'iou_drop.png', 'cbl.csv',
                 'cbl.png', 'iou_drop_all_classes.csv', 'sweep.json', 'sweep.csv', 'sweep.png',
                 'examples_seed0_d3_checker_8.png', 'samples_seed0_d3_checker_8.png'] + \
            [f'cbd_{m}.{ext}' for m in tool.METHODS for ext in ('csv', 'png')]:
        assert osp.isfile(osp.join(out, name)), name
    with open(osp.join(out, 'benchmark.json')) as f:
        summary = json.load(f)
    assert first['methods'] == ['grid', 'ig', 'vg', 'sg']
    run, = summary['runs']
    assert run['digit'] == 3 and run['texture'] == 'checker_8'
    # the bias check is reported next to CBD / CBL
    assert run['iou_drop'] == pytest.approx(run['unbiased_digit_iou'] - run['digit_iou'])
    assert run['bias_learned'] == (run['iou_drop'] >= 0.3)
    for m in tool.METHODS:
        assert 0 <= run[f'cbl_{m}'] <= 1 or np.isnan(run[f'cbl_{m}'])
        rows = _csv(osp.join(out, f'cbd_{m}.csv'))
        assert rows[0] == ['biased digit'] + [str(d) for d in range(10)]
        assert [r[0] for r in rows[1:]] == ['unbiased', '3']
    iou = _csv(osp.join(out, 'iou_drop.csv'))
    assert iou[0] == ['biased digit', 'checker_8'] and iou[1][0] == '3'
    assert float(iou[1][1]) == pytest.approx(run['iou_drop'])
    cbl = _csv(osp.join(out, 'cbl.csv'))
    assert [r[0] for r in cbl[1:]] == ['grid', 'ig', 'vg', 'sg']
    assert summary['unbiased']['0'] >= 0 and summary['unbiased_train_seconds']['0'] > 0
    sweep = _csv(osp.join(out, 'sweep.csv'))
    assert [r[:2] for r in sweep[1:]] == [['lam', '0.05'], ['lam', '0.2'], ['lr', '0.2'],
                                          ['init', '0.5']]
    assert all(0 <= float(r[5]) <= 1 or r[5] == 'nan' for r in sweep[1:])


def test_smoke_benchmark_resumes(smoke):
    out, _, first, second, stamps = smoke
    # nothing was trained, evaluated or explained again: every cached file is untouched
    assert stamps and all(os.stat(p).st_mtime_ns == t for p, t in stamps.items())
    assert second['timings']['explain'] == 0
    assert second['runs'][0]['iou_drop'] == pytest.approx(first['runs'][0]['iou_drop'])
    assert second['cbl'] == first['cbl'] or all(
        np.isclose(second['cbl'][m]['mean'], first['cbl'][m]['mean'], equal_nan=True)
        for m in first['cbl'])


def test_tool_rejects_bad_input(smoke, tmp_path):
    _, tool, _, _, _ = smoke
    with pytest.raises(SystemExit, match='bias texture .*not in the pool'):
        tool.main(['--out', str(tmp_path), '--textures', 'no_such_texture', '--iters', '1'])
    with pytest.raises(SystemExit, match='digit'):
        tool.main(['--out', str(tmp_path), '--digits', '12', '--iters', '1'])
    with pytest.raises(SystemExit, match='does not exist'):
        tool.main(['--out', str(tmp_path), '--config', 'configs/toy/missing.py'])
