"""Bias analyses: class frequency, IoU by frequency, bias vulnerability, classifier similarity,
disentanglement check — on datasets and models whose answers are known, and through each CLI."""
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.datasets import CityscapesDataset
from PIL import Image

import datafactory
from helpers import REPO, run_cli
from mmseg_bias.analysis.bias_vulnerability import (bias_vulnerability, cached_evaluator,
                                                    erasure_evaluator, influence_matrix,
                                                    most_influential, top_influencers)
from mmseg_bias.analysis.class_frequency import class_frequency, save_class_frequency
from mmseg_bias.analysis.classifier_similarity import classifier_similarity, classifier_weight
from mmseg_bias.analysis.disentanglement import replaced_classifier, train_probe
from mmseg_bias.analysis.iou_by_frequency import iou_by_frequency, load_metrics
from mmseg_bias.apis import init_segmentor
from mmseg_bias.models.heads.class_drop import class_gate

CLASSES = CityscapesDataset.METAINFO['classes']
PALETTE = np.array(CityscapesDataset.METAINFO['palette'], np.uint8)
ROAD, BUILDING, VEG, SKY, CAR, TRUCK = 0, 2, 8, 10, 13, 14
H, W = 64, 128


def _train_labels():
    """Three train labels with counts known by construction (see KNOWN)."""
    a = np.full((H, W), ROAD, np.uint8)
    a[:32] = SKY                                   # sky 4096, road 4096
    b = np.full((H, W), BUILDING, np.uint8)
    b[40:56, 10:50] = CAR                          # car 640
    b[:, 120:] = 255                               # building 8192 - 640 - 512 = 7040
    c = np.full((H, W), VEG, np.uint8)
    c[:10] = 255
    c[54:] = ROAD                                  # road 1280, vegetation 8192 - 2560 = 5632
    return [a, b, c]


KNOWN_PIXELS = {ROAD: 5376, SKY: 4096, BUILDING: 7040, CAR: 640, VEG: 5632}
KNOWN_IMAGES = {ROAD: 2, SKY: 1, BUILDING: 1, CAR: 1, VEG: 1}


def _val_labels():
    a = np.full((H, W), BUILDING, np.uint8)
    a[:20], a[44:] = SKY, ROAD
    a[36:52, 30:70] = CAR
    b = np.full((H, W), ROAD, np.uint8)
    b[:30] = SKY
    b[40:56, 60:100] = CAR
    return [a, b]


def _write(root, split, labels):
    for i, label in enumerate(labels):
        image = np.where(label[..., None] == 255, 90, PALETTE[np.minimum(label, 18)])
        stem = osp.join(root, '{}', split, 'c', f'c_000000_{i:06d}_{{}}.png')
        for path, array in ((stem.format('leftImg8bit', 'leftImg8bit'), image.astype(np.uint8)),
                            (stem.format('gtFine', 'gtFine_labelTrainIds'), label)):
            os.makedirs(osp.dirname(path), exist_ok=True)
            Image.fromarray(array).save(path)


@pytest.fixture(scope='module')
def known_config(tmp_path_factory):
    """Config file of a Cityscapes-layout dataset with known labels; images are class colours."""
    root = str(tmp_path_factory.mktemp('known_cityscapes'))
    _write(root, 'train', _train_labels())
    _write(root, 'val', _val_labels())
    return datafactory.write_tiny_config(osp.join(root, 'tiny.py'), datafactory.TINY_BASE, root)


# ---------------------------------------------------------------- class frequency
def test_class_frequency_counts_known_labels(known_config, tmp_path):
    freq = class_frequency(known_config, progress=False)
    expected = np.zeros(19, int)
    for k, v in KNOWN_PIXELS.items():
        expected[k] = v
    assert freq['pixel_count'] == expected.tolist()
    assert freq['num_images'] == 3 and freq['num_pixels'] == 22784
    np.testing.assert_allclose(freq['pixel_freq'], 100 * expected / 22784)
    images = np.zeros(19)
    for k, v in KNOWN_IMAGES.items():
        images[k] = v
    np.testing.assert_allclose(freq['instance_freq'], 100 * images / 3)
    save_class_frequency(freq, str(tmp_path), by='instance')
    rows = open(tmp_path / 'class_frequency.csv').read().splitlines()
    # by instance frequency; ties (1 of 3 images) by pixel frequency: car, sky, vegetation, building
    assert [r.split(',')[0] for r in rows[-5:]] == ['car', 'sky', 'vegetation', 'building', 'road']
    assert '| car | 2.809 | 33.333 | 640 | 1 |' in open(tmp_path / 'class_frequency.md').read()


def test_class_frequency_honours_label_map_and_concat(voc_root):
    """VOC without background (label_map 0 -> 255) over train + aug (ConcatDataset)."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets',
                                   'voc12aug_20cls_480x480.py'))
    for leaf in cfg.train_dataloader.dataset.datasets:
        leaf.data_root = voc_root
    freq = class_frequency(cfg, progress=False)
    pixels, images, n = np.zeros(20, int), np.zeros(20, int), 0
    for folder, split in (('SegmentationClass', 'train'), ('SegmentationClassAug', 'aug')):
        ids = open(osp.join(voc_root, 'ImageSets', 'Segmentation', f'{split}.txt')).read().split()
        for name in ids:
            raw = np.array(Image.open(osp.join(voc_root, folder, f'{name}.png'))).astype(int)
            counts = np.bincount(raw[(raw > 0) & (raw < 255)] - 1, minlength=20)
            pixels, images, n = pixels + counts, images + (counts > 0), n + 1
    assert freq['classes'][0] == 'aeroplane' and freq['num_images'] == n == 8
    assert freq['pixel_count'] == pixels.tolist() and freq['image_count'] == images.tolist()


# ---------------------------------------------------------------- IoU by frequency
def test_iou_by_frequency_table(tmp_path):
    freq = dict(classes=['a', 'b', 'c', 'd'], pixel_freq=[40.0, 5.0, 50.0, 5.0],
                instance_freq=[1, 2, 3, 4])
    base = {'IoU.a': 90.0, 'IoU.b': 20.0, 'IoU.c': 95.0, 'IoU.d': 40.0, 'mIoU': 61.25}
    ours = {'IoU.a': 90.0, 'IoU.b': 30.0, 'IoU.c': 95.0, 'IoU.d': 50.0}
    table = iou_by_frequency({'base': base, 'ours': ours}, freq)
    assert table['classes'] == ['b', 'd', 'a', 'c'] and table['rare'] == [True, True, False, False]
    assert table['models']['base']['mIoU'] == pytest.approx(61.25)
    assert table['models']['base']['mIoU_rare'] == pytest.approx(30.0)
    assert table['deltas']['ours']['delta'] == pytest.approx([10, 10, 0, 0])
    assert table['deltas']['ours']['delta_pct'] == pytest.approx([50, 25, 0, 0])
    assert table['deltas']['ours']['mIoU_rare_pct'] == pytest.approx(100 * 10 / 30)
    with open(tmp_path / 'm.json', 'w') as f:
        json.dump({'mIoU': 1.0}, f)
    with pytest.raises(ValueError, match='no IoU.<class> keys'):
        load_metrics(str(tmp_path / 'm.json'))
    with pytest.raises(KeyError, match='no per-class IoU'):
        iou_by_frequency({'x': {'IoU.a': 1.0}}, freq)


# ---------------------------------------------------------------- bias vulnerability
def _synthetic_evaluator(base, effect, calls):
    """IoU_c(erased E) = base_c - sum_{k in E} effect[c, k]; erased classes get NaN."""
    def run(erased):
        calls.append(tuple(erased))
        iou = base - effect[:, list(erased)].sum(axis=1)
        iou[list(erased)] = np.nan
        return {f'IoU.{c}': v for c, v in zip('abcd', iou)}
    return run


def test_influence_scores_topk_and_per_class_erasure(tmp_path):
    base = np.array([80.0, 50.0, 60.0, 90.0])
    effect = np.zeros((4, 4))  # effect[c, k]: IoU points class c loses when k is erased
    effect[1, 0], effect[2, 0], effect[2, 3], effect[1, 2] = 20, 10, 36, 5
    calls = []
    fn = _synthetic_evaluator(base, effect, calls)
    m = influence_matrix(fn, 'abcd', progress=False)
    np.testing.assert_allclose(np.nan_to_num(m['influence']), effect)
    assert np.isnan(np.diag(m['influence'])).all()
    rel = influence_matrix(fn, 'abcd', score='relative', progress=False)['influence']
    assert rel[1, 0] == pytest.approx(40.0) and rel[2, 3] == pytest.approx(60.0)
    assert most_influential(m) == 3  # mean influence on the others: a 10, b 0, c 5/3, d 12
    top = top_influencers(m, k=2)
    assert top[2]['top'] == [('d', 36.0), ('a', 10.0)]

    result = bias_vulnerability({'m': fn}, 'abcd', erase='top', top_k=2, num_vulnerable=1,
                                progress=False)
    test = result['test']['models']['m']
    # c loses d's and a's effects (-46), b loses a's and c's (-25); a and d have no influencer
    assert result['erased'] == {'b': ['a', 'c'], 'c': ['a', 'd']}
    assert result['test']['classes'][:2] == ['c', 'b'] and result['test']['vulnerable'] == ['c']
    assert test['delta'] == pytest.approx([-46.0, -25.0, 0.0, 0.0])
    assert test['mIoU*_I'] == pytest.approx(60.0) and test['mIoU*_I*'] == pytest.approx(14.0)
    assert test['mIoU_delta'] == pytest.approx(-71 / 4)

    calls.clear()
    cached = cached_evaluator(fn, str(tmp_path), dict(model='m'))
    cached((0,)), cached((0,))
    cached_evaluator(fn, str(tmp_path), dict(model='m'))((0,))  # a new run resumes from disk
    assert calls == [(0,)]
    cached_evaluator(fn, str(tmp_path), dict(model='other'))((0,))
    assert calls == [(0,), (0,)]


class ColourRuleSegmentor(nn.Module):
    """Predicts each pixel's class from its exact class colour (others: pole). With
    ``road_context``, cars are recognised only when road colour is in the image, else -> truck."""

    def __init__(self, cfg, road_context):
        super().__init__()
        self.cfg, self.road_context = cfg, road_context
        self.colours = torch.as_tensor(PALETTE[:, ::-1].copy()).long()  # BGR, as loaded

    def test_step(self, batch):
        for img, sample in zip(batch['inputs'], batch['data_samples']):
            match = (img.long().permute(1, 2, 0)[:, :, None] == self.colours).all(-1)  # H, W, K
            pred = torch.where(match.any(-1), match.long().argmax(-1), torch.tensor(5))
            if self.road_context and not (pred == ROAD).any():
                pred[pred == CAR] = TRUCK
            sample.pred_sem_seg = PixelData(data=pred[None])
        return batch['data_samples']


def test_influence_matrix_on_a_model_with_a_known_bias(known_config):
    """Erasing road provably turns every car into a truck for the biased model, nothing else."""
    cfg = Config.fromfile(known_config)
    evaluators = {name: erasure_evaluator(ColourRuleSegmentor(cfg, bias))
                  for name, bias in (('biased', True), ('fair', False))}
    result = bias_vulnerability(evaluators, CLASSES, progress=False)
    influence = result['matrices']['biased']['influence']
    assert influence[CAR, ROAD] == pytest.approx(100.0)
    others = np.isfinite(influence)
    others[CAR, ROAD] = False
    assert (influence[others] == 0).all() and others.sum() >= 3 * 18
    assert np.nanmax(np.abs(result['matrices']['fair']['influence'])) == 0
    assert result['top']['biased'][CAR]['top'] == [('road', 100.0)]  # no other positive score
    assert result['top']['biased'][SKY]['top'] == []
    assert result['erased'] == ['road']  # the most influential class
    test = result['test']
    assert test['classes'] == ['car', 'building', 'sky']  # road erased, absent classes left out
    biased, fair = test['models']['biased'], test['models']['fair']
    assert biased['I'][0] == 100.0 and biased['I*'][0] == 0.0 and fair['I*'][0] == 100.0
    assert test['vulnerable'][0] == 'car'
    assert biased['mIoU*_I'] == pytest.approx(100.0)
    assert biased['mIoU*_I*'] == pytest.approx(200 / 3)  # car, sky, building
    assert biased['mIoU_I*'] == pytest.approx(200 / 3)  # truck (only predicted on I*) left out
    assert fair['mIoU*_delta'] == pytest.approx(0.0)


# ---------------------------------------------------------------- classifier similarity
def test_classifier_similarity_ordered_by_frequency():
    weight = np.array([[1.0, 0, 0], [1.0, 1.0, 0], [0, 0, 2.0]])
    freq = dict(classes=['x', 'y', 'z'], pixel_freq=[10.0, 1.0, 89.0], instance_freq=[1, 1, 1])
    result = classifier_similarity(weight, freq)
    assert result['classes'] == ['y', 'x', 'z']
    s = np.sqrt(0.5)
    np.testing.assert_allclose(result['similarity'], [[1, s, 0], [s, 1, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(result['mean_similarity'], [s / 2, s / 2, 0], atol=1e-12)
    assert result['nearest'][:2] == ['x', 'y']
    with pytest.raises(ValueError, match='classifier has 2 classes'):
        classifier_similarity(weight[:2], freq)
    head = nn.Module()
    head.conv_seg = nn.Conv2d(3, 4, 1)
    model = nn.Module()
    model.decode_head = head
    assert classifier_weight(model).shape == (4, 3)
    with pytest.raises(TypeError, match='no decode_head.conv_seg'):
        classifier_weight(nn.Conv2d(1, 1, 1))


# ---------------------------------------------------------------- DropClass model + CLIs
@pytest.fixture(scope='module')
def dropclass_checkpoint(tmp_path_factory, cityscapes_root):
    """(config path, checkpoint) of DropClass HRNet-W18-Small trained 2 iterations on tiny data."""
    work = str(tmp_path_factory.mktemp('dropclass_work'))
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dropclass', 'hrnet_w18s_cityscapes.py'))
    datafactory.shrink_config(cfg, cityscapes_root, work, crop=(64, 128))
    cfg.experiment_name = 'bias_analyses_dropclass'
    cfg.randomness = dict(seed=0)
    Runner.from_cfg(cfg).train()
    path = osp.join(work, 'dropclass_tiny.py')
    cfg.dump(path)
    return path, osp.join(work, 'iter_2.pth')


def test_probe_sees_only_a_drop_and_trains_alone(dropclass_checkpoint):
    config, ckpt = dropclass_checkpoint
    model = init_segmentor(config, ckpt)
    head, z = model.decode_head, 5
    feats = model.extract_feat(torch.rand(1, 3, 64, 128))
    captured = []
    handle = head.class_drop.register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    with torch.no_grad():
        normal = head(feats)
    handle.remove()
    probe = nn.Conv2d(head.conv_seg.in_channels, 19, 1)
    with torch.no_grad(), replaced_classifier(head, probe, z):
        replaced = head(feats)
        expected = probe(head.class_drop(captured[0], class_gate(head.conv_seg.weight, z)))
    torch.testing.assert_close(replaced, expected)
    with torch.no_grad():
        torch.testing.assert_close(head(feats), normal)  # the classifier is restored
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained, losses = train_probe(model, z, iters=2, progress=False)
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert all(p.requires_grad for p in model.parameters())


def _script(name, args, monkeypatch):
    """Run tools/analysis/<name>.py as __main__ in this process (saves an interpreter start)."""
    monkeypatch.setattr(sys, 'argv', [name] + [str(a) for a in args])
    runpy.run_path(osp.join(REPO, 'tools', 'analysis', f'{name}.py'), run_name='__main__')


def test_clis_end_to_end(tmp_path, tiny_config, trained_checkpoint, dropclass_checkpoint,
                         monkeypatch, capsys):
    """Each CLI on the tiny Cityscapes set: baseline = the tiny trained checkpoint, DropClass =
    the 2-iteration DropClass checkpoint (one real subprocess; the others run in-process)."""
    _, ckpt = trained_checkpoint
    dc_config, dc_ckpt = dropclass_checkpoint
    out = tmp_path
    printed = run_cli([sys.executable, 'tools/analysis/class_frequency.py', tiny_config,
                       '--out', out / 'freq'])
    assert '| class | pixel_freq_% |' in printed
    freq_json = out / 'freq' / 'class_frequency.json'
    assert osp.isfile(freq_json) and osp.isfile(out / 'freq' / 'class_frequency.png')

    _script('bias_vulnerability', [tiny_config, ckpt, '--names', 'baseline', '--matrix-classes',
                                   'sky', '--out', out / 'bv'], monkeypatch)
    result = json.load(open(out / 'bv' / 'bias_vulnerability.json'))
    assert result['erased'] == ['sky'] and 'sky' not in result['test']['classes']
    for name in ('influence_baseline.png', 'influence_baseline.md', 'erasure_test.png',
                 'erasure_test.md', 'top_influencers_baseline.csv',
                 'baseline/evaluations/clean.json', 'baseline/evaluations/erase_010.json'):
        assert osp.isfile(out / 'bv' / name), name
    assert 'baseline (I*)' in capsys.readouterr().out

    # the baseline's clean metrics from the run above, as a metrics file; DropClass evaluated anew
    clean = json.load(open(out / 'bv' / 'baseline' / 'evaluations' / 'clean.json'))['metrics']
    with open(out / 'baseline_metrics.json', 'w') as f:
        json.dump(clean, f)
    _script('iou_by_frequency', [tiny_config, '--metrics', out / 'baseline_metrics.json',
                                 '--compare', dc_config, dc_ckpt, '--names', 'dropclass',
                                 'baseline', '--frequency', freq_json, '--out', out / 'iou'],
            monkeypatch)
    table = json.load(open(out / 'iou' / 'iou_by_frequency.json'))
    assert list(table['models']) == ['dropclass', 'baseline'] and 'baseline' in table['deltas']
    assert table['models']['baseline']['mIoU'] == pytest.approx(clean['mIoU'], abs=0.01)
    assert osp.isfile(out / 'iou' / 'iou_by_frequency.png')
    assert osp.isfile(out / 'iou' / 'metrics_dropclass.json')
    assert 'Δ (%)' in capsys.readouterr().out

    _script('classifier_similarity', [dc_config, dc_ckpt, '--frequency', freq_json,
                                      '--out', out / 'sim'], monkeypatch)
    sim = json.load(open(out / 'sim' / 'classifier_similarity.json'))
    assert np.allclose(np.diag(sim['similarity']), 1.0) and len(sim['classes']) == 19
    assert osp.isfile(out / 'sim' / 'similarity_matrix.png')
    assert osp.isfile(out / 'sim' / 'similarity_vs_frequency.png')

    _script('disentanglement', [dc_config, dc_ckpt, '--dropped-class', 'road', '--iters', 1,
                                '--num-samples', 1, '--control', '--out', out / 'dis'], monkeypatch)
    dis = json.load(open(out / 'dis' / 'disentanglement.json'))
    assert dis['dropped_class'] == 'road' and set(dis['z_iou']) == {'normal', 'dropped', 'control'}
    assert len(dis['losses']['dropped']) == len(dis['losses']['control']) == 1
    assert osp.isfile(out / 'dis' / 'qualitative_0.png')
    assert not osp.isfile(out / 'dis' / 'qualitative_1.png')
    assert '(dropped)' in open(out / 'dis' / 'disentanglement.md').read()
