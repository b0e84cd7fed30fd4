"""Logit-structure analysis: streaming statistics, distributed merge, measures, metric and tool."""
import importlib.util
import os.path as osp
import sys
import warnings

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from helpers import load_tool, run_cli
from mmseg_bias.evaluation.logit_measures import (background_margins, centroid_distances,
                                                 centroid_pca, components_for_variance,
                                                 logit_distance, participation_ratio)
from mmseg_bias.evaluation import logit_structure as ls_module
from mmseg_bias.evaluation.logit_structure import (LogitStats, LogitStructureMetric,
                                                   evaluate_logit_structure)
from mmseg_bias.utils import dump_json, load_json

G, D = 5, 4


def _pixels(seed=0, n=600):
    """(n, D) logits far from the origin (stability), groups 0..G-1 with group 3 absent, group 4
    a single pixel, logit 2 constant inside group 1 (zero variance), and some skipped (-1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)) * [1.0, 3.0, 0.5, 2.0] + 1e4
    g = rng.choice([0, 1, 2, -1], size=n, p=[0.4, 0.3, 0.2, 0.1])
    g[17] = 4
    x[g == 1, 2] = 1e4 + 0.25
    return x, g


def _reference(x, g, k):
    xk = x[g == k]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # corrcoef of a constant logit
        return xk.mean(0), np.cov(xk.T), np.corrcoef(xk.T)


@pytest.mark.parametrize('batch,shuffle', [(1, False), (7, True), (64, True), (600, False)])
def test_streaming_statistics_equal_numpy(batch, shuffle):
    x, g = _pixels()
    order = np.random.default_rng(batch).permutation(len(x)) if shuffle else np.arange(len(x))
    stats = LogitStats(G, D)
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        rows = torch.from_numpy(x[idx]) if start % 2 else x[idx]  # tensors and arrays
        stats.update(rows, g[idx])
    cov, corr = stats.covariance(), stats.correlation()
    for k in range(3):
        mean, ref_cov, ref_corr = _reference(x, g, k)
        assert stats.count[k] == (g == k).sum()
        np.testing.assert_allclose(stats.mean[k], mean, rtol=1e-12)
        np.testing.assert_allclose(cov[k], ref_cov, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(corr[k], ref_corr, rtol=1e-8, atol=1e-10, equal_nan=True)
    assert np.isnan(corr[1, 2]).all() and np.isnan(corr[1, :, 2]).all()  # zero variance -> NaN
    assert stats.count[3] == 0 and np.isnan(stats.centroids()[3]).all()
    assert stats.count[4] == 1 and np.isnan(cov[4]).all()  # n - ddof = 0
    assert np.isfinite(stats.centroids()[4]).all()


def test_float32_logits_on_any_device_are_accumulated_in_float64():
    x, g = _pixels(seed=3)
    stats = LogitStats(G, D).update(torch.from_numpy(x).float(), torch.from_numpy(g))
    x32 = x.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(stats.covariance()[0], np.cov(x32[g == 0].T), rtol=1e-9)
    with pytest.raises(ValueError, match='out of range'):
        LogitStats(G, D).update(x[:3], np.array([0, 1, G]))


def test_merging_two_shards_equals_the_union():
    x, g = _pixels(seed=1)
    cut = 250
    a = LogitStats(G, D).update(x[:cut], g[:cut])
    b = LogitStats(G, D).update(x[cut:], g[cut:])
    union = LogitStats(G, D).update(x, g)
    merged = a.copy().merge(b)
    np.testing.assert_array_equal(merged.count, union.count)
    np.testing.assert_allclose(merged.mean, union.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, union.m2, rtol=1e-9, atol=1e-9)
    restored = LogitStats.from_state_dict(b.state_dict())
    np.testing.assert_allclose(a.copy().merge(restored).m2, merged.m2)
    with pytest.raises(ValueError, match='cannot merge'):
        a.merge(LogitStats(G, D + 1))


def _samples(n, seed=0, classes=G, size=(6, 5)):
    """``n`` data samples as the Evaluator hands them to metrics (SegDataSample.to_dict())."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        logits = torch.from_numpy(rng.normal(size=(classes,) + size) * 3).float()
        gt = torch.from_numpy(rng.integers(0, classes, size=size))
        gt[0, :2] = 255
        out.append(dict(seg_logits=dict(data=logits),
                        pred_sem_seg=dict(data=logits.argmax(0)[None]),
                        gt_sem_seg=dict(data=gt[None])))
    return out


def _metric(**kwargs):
    metric = LogitStructureMetric(with_covariance=True, **kwargs)
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(G)])
    return metric


def test_metric_merges_ranks_and_drops_sampler_padding(monkeypatch):
    samples = _samples(5)
    single = _metric()
    single.process(None, samples)
    expected = single.evaluate(5)
    # DefaultSampler with 2 ranks and round_up: rank 0 gets 0, 2, 4; rank 1 gets 1, 3, 0 (padding)
    rank0, rank1 = _metric(), _metric()
    for i in (0, 2, 4):
        rank0.process(None, [samples[i]])
    rank1.process(None, [samples[1]])
    rank1.process(None, [samples[3], samples[0]])
    part1 = rank1._local_part()
    monkeypatch.setattr(ls_module, 'get_dist_info', lambda: (0, 2))
    monkeypatch.setattr(ls_module, 'all_gather_object', lambda part: [part, part1])
    result = rank0.evaluate(5)
    assert result['logit/counts'] == expected['logit/counts']
    assert result['logit/num_pixels'] == 5 * 28  # 30 pixels minus 2 ignored, padding not counted
    for key in ('centroids', 'covariance', 'distance', 'cumulative_explained_variance'):
        np.testing.assert_allclose(result[f'logit/{key}'], expected[f'logit/{key}'], rtol=1e-9,
                                   equal_nan=True)


def test_metric_through_a_real_process_group(gloo_group):
    metric = _metric()
    metric.process(None, _samples(3, seed=4))
    result = metric.evaluate(3)
    assert result['logit/num_pixels'] == 3 * 28
    assert metric._num_samples == 0, 'state is reset after evaluate'


def test_metric_next_to_iou_metric_with_gt_grouping():
    init_default_scope('mmseg')
    samples = _samples(2, seed=2)
    evaluator = Evaluator([dict(type='ClassIoUMetric', iou_metrics=['mIoU']),
                           dict(type='LogitStructureMetric', group_by='gt', background_index=1)])
    evaluator.dataset_meta = dict(classes=[f'c{i}' for i in range(G)])
    evaluator.process(samples)
    result = evaluator.evaluate(2)
    assert 0 <= result['mIoU'] <= 100
    gt = np.concatenate([s['gt_sem_seg']['data'].numpy().ravel() for s in samples])
    assert result['logit/counts'] == np.bincount(gt[gt != 255], minlength=G).tolist()
    assert 'logit/covariance' not in result  # with_covariance is off by default
    centroids = np.array(result['logit/centroids'])
    assert result['logit/distance'] == pytest.approx(logit_distance(centroids, 1))
    pixels = np.concatenate([s['seg_logits']['data'].flatten(1).T.numpy() for s in samples])
    np.testing.assert_allclose(centroids[3], pixels[gt == 3].mean(0), rtol=1e-6)


def test_metric_in_a_config_test_evaluator(tmp_path, tiny_config, trained_checkpoint):
    from mmseg_bias.apis import test
    evaluators = [dict(type='IoUMetric', iou_metrics=['mIoU']), dict(type='LogitStructureMetric')]
    result = test(tiny_config, trained_checkpoint[1], work_dir=str(tmp_path),
                  out=str(tmp_path / 'out'), cfg_options={'test_evaluator': evaluators})
    assert 0 <= result['mIoU'] <= 100
    assert sum(result['logit/counts']) == result['logit/num_pixels'] > 0
    assert np.isfinite(result['logit/distance'])


def test_metric_needs_labels_to_skip_ignore():
    sample = _samples(1)[0]
    del sample['gt_sem_seg']
    with pytest.raises(ValueError, match='needs gt_sem_seg'):
        _metric().process(None, [sample])
    metric = _metric(skip_ignore=False)
    metric.process(None, [sample])
    assert metric.evaluate(1)['logit/num_pixels'] == 30


def test_distance_on_a_hand_built_example():
    centroids = np.array([[5.0, 1.0, 0.0, 2.0],     # background row: not a foreground class
                          [1.0, 4.0, 0.0, 0.0],     # margin 4 - 1 = 3
                          [np.nan] * 4,             # absent
                          [2.0, 0.0, 0.0, 3.0]])    # margin 3 - 2 = 1
    np.testing.assert_allclose(background_margins(centroids), [np.nan, 3.0, np.nan, 1.0])
    assert logit_distance(centroids) == pytest.approx(2.0)
    assert logit_distance(centroids, background_index=3) == pytest.approx(((4 - 0) + (5 - 2)) / 2)
    d = centroid_distances(centroids)
    assert d[0, 1] == pytest.approx(np.sqrt(16 + 9 + 0 + 4)) and np.isnan(d[2]).all()
    with pytest.raises(ValueError, match='square'):
        logit_distance(centroids[:, :3])


def test_pca_explained_variance_against_numpy():
    rng = np.random.default_rng(5)
    centroids = rng.normal(size=(6, 6)) @ np.diag([4, 2, 1, 0.5, 0.1, 0.01])
    pca = centroid_pca(centroids)
    eig = np.sort(np.linalg.eigvalsh(np.cov(centroids.T)))[::-1][:len(pca['explained_variance'])]
    np.testing.assert_allclose(pca['explained_variance'], eig, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pca['cumulative'], np.cumsum(eig) / eig.sum(), rtol=1e-9)
    np.testing.assert_allclose(pca['cumulative'][-1], 1.0)
    with_absent = np.vstack([centroids, np.full(6, np.nan)])
    np.testing.assert_allclose(centroid_pca(with_absent)['cumulative'], pca['cumulative'])


def test_effective_dimensionality_definitions():
    line = np.outer(np.arange(5.0), [1.0, 2.0, 0.0])  # centroids on one line: one direction
    pca = centroid_pca(line)
    assert participation_ratio(pca['explained_variance']) == pytest.approx(1.0)
    assert components_for_variance(pca['cumulative']) == 1
    square = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])  # equal variance in two directions
    pca = centroid_pca(square)
    assert participation_ratio(pca['explained_variance']) == pytest.approx(2.0)
    assert components_for_variance(pca['cumulative'], 0.95) == 2
    assert components_for_variance(pca['cumulative'], 0.5) == 1
    assert centroid_pca(square[:1])['cumulative'].size == 0  # one group: no PCA


def _load_tool():
    return load_tool('tools/analysis/logit_structure.py')


FIGURES = ('centroids.png', 'centroid_distances.png', 'correlation_grid.png',
           'explained_variance.png')


def test_cli_writes_json_and_figures_and_compares(tmp_path, tiny_config, trained_checkpoint):
    _, ckpt = trained_checkpoint
    clean = tmp_path / 'clean'
    out = run_cli([sys.executable, 'tools/analysis/logit_structure.py', tiny_config, ckpt,
                   '--out', clean])
    assert 'Distance' in out
    result = load_json(clean / 'logit_structure.json')
    m = result['metrics']
    assert len(result['classes']) == 19 and result['condition']['name'] == 'clean'
    assert 0 <= m['mIoU'] <= 100 and sum(m['logit/counts']) == m['logit/num_pixels'] > 0
    assert np.array(m['logit/centroids']).shape == (19, 19)
    assert np.array(m['logit/correlation']).shape == (19, 19, 19)
    assert m['logit/cumulative_explained_variance'][-1] == pytest.approx(1.0)
    for name in FIGURES:
        assert osp.getsize(clean / name) > 1000, name

    # a second condition of the same model (in-process, fast) and a second "model"
    shifted = dict(result, condition=dict(name='shifted', corruption=None, severity=1),
                   metrics=dict(m, mIoU=m['mIoU'] / 2, **{'logit/distance': m['logit/distance']
                                                         - 1}))
    dump_json(shifted, tmp_path / 'shifted.json')
    other = dict(result, model='other')
    dump_json(other, tmp_path / 'other.json')
    compared = tmp_path / 'compare'
    _load_tool().main(['--compare', str(clean / 'logit_structure.json'),
                       str(tmp_path / 'shifted.json'), str(tmp_path / 'other.json'),
                       '--out', str(compared)])
    assert osp.getsize(compared / 'explained_variance.png') > 1000
    assert osp.getsize(compared / 'distance_vs_miou.png') > 1000
    rows = (compared / 'comparison.csv').read_text().splitlines()
    assert rows[0].startswith('label,condition,mIoU,distance') and len(rows) == 4
    assert rows[3].startswith('other,clean,')


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    tool = _load_tool()
    have_corruptions = importlib.util.find_spec('mmseg_bias.datasets.transforms.corruption')
    for argv, message in (
            (['cfg.py', 'ckpt.pth', '--out', 'o', '--corruption', 'fog'], 'go together'),
            (['cfg.py', 'ckpt.pth', '--out', 'o', '--corruption', 'nope', '--severity', '3'],
             'unknown corruption' if have_corruptions else 'needs the ImageCorruption transform'),
            (['--compare', str(tmp_path / 'none.json'), '--out', 'o'], 'does not exist'),
            (['--out', 'o'], 'pass CONFIG and CHECKPOINT')):
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert message in capsys.readouterr().err


def test_corrupted_condition_changes_the_statistics(tiny_config, trained_checkpoint):
    pytest.importorskip('mmseg_bias.datasets.transforms.corruption')
    from mmseg_bias.apis import init_segmentor
    model = init_segmentor(tiny_config, trained_checkpoint[1])
    clean = evaluate_logit_structure(model, progress=False)
    noisy = evaluate_logit_structure(
        model, [dict(type='ImageCorruption', corruption='gaussian_noise', severity=5)],
        progress=False)
    assert clean['logit/num_pixels'] == noisy['logit/num_pixels']
    assert not np.allclose(clean['logit/centroids'], noisy['logit/centroids'], equal_nan=True)
