"""Requests, dilation baseline and dataset-level context statistics with known answers; the
dataset runner's sharding and resume; the context-statistics CLI end to end."""
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import REPO
from mmseg_bias.saliency import (GridSaliency, build_requests, context_statistics,
                                 dilation_baseline, explain_images, iter_records, paper_min_size,
                                 present_keys, requests_from_intersection, requests_from_labels,
                                 save_context_statistics)
from mmseg_bias.visualization import plot_context_statistics


def test_requests_per_class_and_component_with_eroded_size():
    labels = np.zeros((20, 20), np.uint8)
    labels[2:8, 2:8] = 3          # 6x6 -> 16 px after the 3x3 erosion
    labels[12:16, 12:16] = 3      # 4x4 -> 4 px
    labels[12:15, 2:5] = 5        # 3x3 -> 1 px
    labels[0, :] = 255
    per_class = requests_from_labels(labels, min_size=4, image=7)
    assert [(r.image, r.cls, int(r.mask.sum())) for r in per_class] == \
        [(7, 0, 400 - 20 - 36 - 16 - 9), (7, 3, 52)]          # class 5 erodes to 1 px < 4
    comps = requests_from_labels(labels, classes=[3], per='component', min_size=5)
    assert [int(r.mask.sum()) for r in comps] == [36]           # the 4x4 blob erodes to 4 < 5
    assert requests_from_labels(labels, classes=[5], min_size=2) == []
    assert [int(r.mask.sum()) for r in requests_from_labels(labels, [5], erosion=1,
                                                             min_size=9)] == [9]
    assert present_keys('gt', gt=labels) == [0, 3, 5]
    with pytest.raises(ValueError, match='per must be one of'):
        requests_from_labels(labels, per='instance')
    assert paper_min_size(1024, 2048) == 10000 and paper_min_size(1024, 2048, errors=True) == 625
    assert paper_min_size(512, 1024) == 2500 and paper_min_size(64, 64) == 20


def test_intersection_requests_explain_the_prediction_of_gt_pixels():
    gt = np.zeros((12, 12), np.int64)
    gt[:, 6:] = 1
    pred = gt.copy()
    pred[2:8, 6:10] = 2           # GT 1 predicted as 2
    requests = requests_from_intersection(gt, pred)
    assert [(r.gt_cls, r.cls, int(r.mask.sum())) for r in requests] == \
        [(0, 0, 72), (1, 1, 48), (1, 2, 24)]
    errors = build_requests('intersection', pred=pred, gt=gt, errors_only=True, min_size=8)
    assert [(r.gt_cls, r.cls) for r in errors] == [(1, 2)]        # 6x4 -> 8 px after erosion
    assert present_keys('intersection', pred=pred, gt=gt, classes=[1]) == [(1, 1), (1, 2)]
    with pytest.raises(ValueError, match='need a ground-truth label map'):
        build_requests('gt', pred=pred)


def test_dilation_baseline_takes_the_nearest_pixels_shared_by_instances():
    mask = np.zeros((20, 20), bool)
    mask[8:12, 8:12] = True
    ring = dilation_baseline(mask, 16)           # the 16 pixels at distance 1
    assert ring.sum() == 16 and not (ring & mask).any()
    assert ring[7, 8:12].all() and ring[12, 8:12].all() and ring[8:12, 7].all() and not ring[7, 7]
    two = np.zeros((20, 20), bool)
    two[2:4, 2:4] = two[15:17, 15:17] = True
    shared = dilation_baseline(two, 16)          # 8 neighbours each
    assert shared[:10].sum() == 8 and shared[10:].sum() == 8
    assert dilation_baseline(mask, 10_000).sum() == 400 - 16


LEFT, RIGHT, REQ = 2, 3, 1


def label_map():
    """20x20: class 2 left half, class 3 right half, the request (class 1) a 4x4 square on the
    border, an ignored strip at the top."""
    labels = np.full((20, 20), LEFT, np.int64)
    labels[:, 10:] = RIGHT
    labels[8:12, 8:12] = REQ
    labels[0:2, 5:10] = 255
    return labels


def record(saliency_pixels, valid=True, empty=False, key=REQ, present=(REQ, )):
    mask = label_map() == REQ
    sal = np.zeros((20, 20))
    for (rows, cols), value in saliency_pixels:
        sal[rows, cols] = value
    sal[mask] = 1.0                 # inside the request: never counted
    return dict(name='x', present=list(present), gt=label_map(), pred=label_map(),
                masks=mask[None], saliency=sal[None],
                requests=[dict(key=key, valid=valid, empty=empty)])


def records():
    a = record([((slice(0, 2), slice(0, 5)), 1.0), ((slice(0, 2), slice(15, 20)), 0.5),
                ((slice(0, 2), slice(5, 10)), 1.0)])          # last one falls on ignore
    b = record([((slice(0, 2), slice(0, 5)), 1.0)], valid=False)
    c = record([], empty=True)
    d = dict(name='d', present=[REQ, 5], requests=[])          # present, filtered by size
    e = record([((0, 19), 1.0)])                               # one pixel on the right
    f = record([((slice(0, 2), slice(0, 5)), 1.0)], key=[LEFT, REQ], present=[[LEFT, REQ]])
    return [a, b, c, d, e, f]


def test_context_statistics_on_a_known_label_map():
    stats = context_statistics(records(), 6, list('abcdef'), dilation_area=16 / 400)
    assert stats['rows'] == [REQ, 5, [LEFT, REQ]] and stats['row_names'] == ['b', 'f', 'c→b']
    sal, base = stats['saliency'], stats['baseline']
    # request average: a gives left 2/3, right 1/3 (ignored pixels dropped); e gives right 1
    assert sal[0, LEFT] == pytest.approx(1 / 3) and sal[0, RIGHT] == pytest.approx(2 / 3)
    assert base[0, LEFT] == pytest.approx(0.5) and base[0, RIGHT] == pytest.approx(0.5)
    assert stats['difference'][0, RIGHT] == pytest.approx(2 / 3 - 0.5)
    assert np.isnan(sal[1]).all() and stats['samples'] == [2, 0, 1]
    assert sal[2, LEFT] == pytest.approx(1.0)
    assert stats['counts']['b'] == dict(present=5, size_ok=4, non_empty=3, valid=3, used=2)
    assert stats['counts']['f'] == dict(present=1, size_ok=0, non_empty=0, valid=0, used=0)
    pooled = context_statistics(records(), 6, dilation_area=16 / 400, average='pooled')
    assert pooled['saliency'][0, LEFT] == pytest.approx(10 / 16)
    binary = context_statistics(records(), 6, dilation_area=16 / 400, weighting='binary')
    assert binary['saliency'][0, LEFT] == pytest.approx((10 / 20 + 0) / 2)


def test_context_statistics_files_and_figures(tmp_path):
    names = ['bg', 'rider', 'road', 'car', 'x', 'y']
    stats = context_statistics(records(), 6, names, dilation_area=16 / 400)
    paths = save_context_statistics(stats, str(tmp_path))
    figures = plot_context_statistics(stats, str(tmp_path), context_classes=['road', 'car'])
    assert all(osp.isfile(p) for p in paths + figures) and len(figures) == 3
    lines = open(tmp_path / 'context_statistics.csv').read().splitlines()
    assert lines[0] == 'request,kind,samples,' + ','.join(names) and len(lines) == 1 + 3 * 3
    assert '| rider | 5 | 4 | 3 | 3 | 2 | 2 |' in open(tmp_path / 'sample_counts.md').read()
    assert json.load(open(tmp_path / 'context_statistics.json'))['row_names'][2] == 'road→rider'
    with pytest.raises(ValueError, match='unknown context classes'):
        plot_context_statistics(stats, str(tmp_path), context_classes=['sky'])


class Bright(nn.Module):
    """Class 1 wherever the image is brighter than its mean, class 0 elsewhere."""

    def forward(self, x):
        z = 10 * (x.mean(1, keepdim=True) - x.mean((1, 2, 3), keepdim=True))
        return torch.cat([-z, z], 1)


def test_runner_shards_over_ranks_and_resumes(tmp_path):
    g = torch.Generator().manual_seed(0)
    images = [(torch.rand(3, 4, 4, generator=g) * 255).repeat_interleave(4, 1)
              .repeat_interleave(4, 2) for _ in range(3)]      # 4x4-pixel blocks
    names = [f'{i:05d}_img' for i in range(3)]
    loaded = []

    def load(i):
        loaded.append(i)
        return dict(inputs=images[i].byte(), gt=(images[i][0] > 128).long(), img_path=f'{i}.png')
    explainer = GridSaliency(Bright(), steps=2)
    out, settings = str(tmp_path), dict(steps=2)
    kwargs = dict(source='intersection', min_size=1, progress=False)
    for rank in (0, 1):
        explain_images(Bright(), explainer, out, names, load, settings, rank=rank, world_size=2,
                       **kwargs)
    assert sorted(loaded) == [0, 1, 2] and loaded[:2] == [0, 2]
    seen = []
    done = explain_images(Bright(), explainer, out, names, load, settings, rank=0, world_size=1,
                          on_record=lambda name, r: seen.append(name), **kwargs)
    assert done == dict(computed=0, skipped=3) and seen == names and len(loaded) == 3
    recs = list(iter_records(out))
    assert [r['name'] for r in recs] == names
    assert all(q['key'] == [q['gt_cls'], q['cls']] for r in recs for q in r['requests'])
    assert recs[0]['gt'].shape == (16, 16) and recs[0]['saliency'].dtype == np.float32
    done = explain_images(Bright(), explainer, out, names, load, dict(steps=3), rank=0,
                          world_size=1, **kwargs)
    assert done['computed'] == 3                 # other settings: recomputed


def test_context_statistics_cli_error_mode(tmp_path, tiny_config, trained_checkpoint, capsys,
                                           monkeypatch):
    _, ckpt = trained_checkpoint
    out = tmp_path / 'ctx'
    args = [tiny_config, ckpt, '--out', out, '--error-mode', '--method', 'vg', '--min-size', '10',
            '--labels', 'pred', '--dilation-area', '0.1']
    # in this process (the grid-saliency CLI test runs a real subprocess)
    monkeypatch.setattr(sys, 'argv', ['context_statistics.py'] + [str(a) for a in args])
    runpy.run_path(osp.join(REPO, 'tools', 'saliency', 'context_statistics.py'),
                   run_name='__main__')
    assert '| request | images_present |' in capsys.readouterr().out
    for name in ('context_saliency.png', 'context_baseline.png', 'context_difference.png',
                 'context_statistics.csv', 'sample_counts.csv', 'sample_counts.md',
                 'saliency/diagnostics.json'):
        assert osp.isfile(out / name), name
    stats = json.load(open(out / 'context_statistics.json'))
    assert stats['labels'] == 'pred' and all('→' in n for n in stats['row_names'])
    assert sum(stats['samples']) > 0
    merged = json.load(open(out / 'saliency' / 'diagnostics.json'))
    assert merged['num_images'] == 2 and merged['settings']['source'] == 'intersection'
    assert merged['settings']['min_size'] == 10
