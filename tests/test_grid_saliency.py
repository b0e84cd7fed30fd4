"""Grid saliency: on hand-built models whose answer is known, every option of the supplementary,
batched == one by one, mmseg segmentors inside no-grad loops, and the CLI end to end."""
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from helpers import REPO, run_cli
from mmseg_bias.saliency import (GridSaliency, SegmentationLogits, erode_mask, images_from_inputs,
                                 load_record)

S = 32                                      # image size; 4x4 grid -> 8x8 pixel cells
REQUEST = (slice(8, 16), slice(8, 16))      # R: cell (1, 1)
CONTEXT = (slice(16, 24), slice(24, 32))    # B: cell (2, 3), the region the model reads


def checkerboard(region):
    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing='ij')
    return ((yy + xx) % 2).float()[region]


class RegionVariance(nn.Module):
    """Two classes; the class-1 logit at every pixel in ``where`` is 40 (var(x over ``region``) −
    0.1), elsewhere ``outside``; class 0 logit 0. A checkerboard region (var 0.25) gives f_1 ≈
    0.998; any constant perturbation of it gives f_1 ≈ 0.018."""

    def __init__(self, region, where=None, outside=5.0):
        super().__init__()
        self.region, self.where, self.outside = region, where, outside
        self.gain = nn.Parameter(torch.tensor(40.0))

    def forward(self, x):
        v = x[:, :, self.region[0], self.region[1]].flatten(1).var(1, unbiased=False)
        n = x.shape[0]
        logit = (self.gain * (v - 0.1)).view(n, 1, 1).expand(n, S, S)
        if self.where is not None:
            logit = torch.where(self.where, logit, torch.full_like(logit, self.outside))
        return torch.stack([torch.zeros_like(logit), logit], 1)


class RegionMean(nn.Module):
    """Class-1 logit 20 (mean(x over ``region``) − 0.6) everywhere: prefers a bright region."""

    def forward(self, x):
        m = x[:, :, CONTEXT[0], CONTEXT[1]].flatten(1).mean(1)
        logit = (20 * (m - 0.6)).view(-1, 1, 1).expand(-1, S, S)
        return torch.stack([torch.zeros_like(logit), logit], 1)


def scene(region_value=None, seed=0):
    """(1, 1, S, S) image: mid-grey noise, a checkerboard (or a constant) in CONTEXT."""
    g = torch.Generator().manual_seed(seed)
    x = 0.35 + 0.3 * torch.rand(1, 1, S, S, generator=g)
    x[0, 0, CONTEXT[0], CONTEXT[1]] = checkerboard(CONTEXT) if region_value is None else region_value
    return x


def request_mask():
    m = torch.zeros(S, S, dtype=torch.bool)
    m[REQUEST] = True
    return m


def region_mask(region):
    m = torch.zeros(S, S, dtype=torch.bool)
    m[region] = True
    return m


def test_saliency_falls_on_the_only_context_the_model_uses():
    model = RegionVariance(CONTEXT)
    maps, diags = GridSaliency(model).attribute(scene(), [(0, 1, request_mask())])
    m, d, b = maps[0], diags[0], region_mask(CONTEXT)
    context = ~request_mask()
    assert d['valid'] and not d['empty'] and not d['empty_mask_won']
    assert d['preservation_loss'] <= 0.1
    assert m[b].sum() / m[context].sum() > 0.99                 # CBL-like: mass on B
    assert m[context & ~b].mean() < 0.01                         # CBD-like area elsewhere
    assert m[b].min() > 0.8 and (m[request_mask()] == 0).all()   # zero inside R (context only)
    assert d['area'] == pytest.approx(float(m[context].mean()), abs=1e-6)
    assert d['request_pixels'] == 64 and d['eroded_pixels'] == 36


def test_empty_mask_wins_when_the_request_explains_itself():
    model = RegionVariance(REQUEST)        # reads only the request, never perturbed
    x = scene()
    x[0, 0, REQUEST[0], REQUEST[1]] = checkerboard(REQUEST)
    maps, diags = GridSaliency(model).attribute(x, [(0, 1, request_mask())])
    d = diags[0]
    assert d['empty_mask_won'] and d['empty'] and (maps == 0).all()
    assert d['empty_loss'] < 1e-6 and d['valid'] and d['loss'] == d['empty_loss']
    # after 5 steps the optimiser still keeps M ≈ 0.4 everywhere: the empty-mask check replaces it
    maps, diags = GridSaliency(model, steps=5).attribute(x, [(0, 1, request_mask())])
    d = diags[0]
    assert d['optimised_loss'] > 0.2 and d['empty_mask_won'] and (maps == 0).all()


def test_plain_mode_perturbs_the_request_too():
    model = RegionVariance(REQUEST)
    x = scene()
    x[0, 0, REQUEST[0], REQUEST[1]] = checkerboard(REQUEST)
    maps, diags = GridSaliency(model, context_only=False).attribute(x, [(0, 1, request_mask())])
    assert diags[0]['valid'] and not diags[0]['empty']
    assert maps[0][request_mask()].min() > 0.8       # the request itself is what matters
    assert maps[0][~request_mask()].mean() < 0.01


def test_clipping_zeroes_small_values_each_step():
    model, x, req = RegionVariance(CONTEXT), scene(), [(0, 1, request_mask())]
    kept, _ = GridSaliency(model, init=0.15, lr=0.0, steps=1, clip=0.0, lam=0.0).attribute(x, req)
    assert torch.allclose(kept[0][~request_mask()], torch.tensor(0.15))
    for init in (0.15, 0.2):               # values <= clip are zeroed, 0.2 included
        clipped, d = GridSaliency(model, init=init, lr=0.0, steps=1, lam=0.0).attribute(x, req)
        assert (clipped == 0).all() and d[0]['empty']
    above, _ = GridSaliency(model, init=0.21, lr=0.0, steps=1, lam=0.0).attribute(x, req)
    assert torch.allclose(above[0][~request_mask()], torch.tensor(0.21))


def test_penalty_shrinks_useless_cells_below_the_clip():
    model, x, req = RegionVariance(CONTEXT), scene(), [(0, 1, request_mask())]
    summed, _ = GridSaliency(model, steps=30).attribute(x, req)
    mean, _ = GridSaliency(model, steps=30, penalty='mean').attribute(x, req)
    useless = ~request_mask() & ~region_mask(CONTEXT)
    assert (summed[0][useless] == 0).all()
    assert mean[0][useless].min() > 0.3      # λ / 16 per cell barely moves them in 30 steps


def test_erode_helper_keeps_image_borders():
    m = np.zeros((9, 9), bool)
    m[3:8, 1:6] = True                      # 5x5 -> its 3x3 interior
    m[0:3, 6:9] = True                      # 3x3 in the corner: only its contour to context erodes
    e = erode_mask(m)
    assert e.dtype == bool and e.sum() == 9 + 4
    assert e[4:7, 2:5].all() and e[0:2, 7:9].all() and not e[2, 8] and not e[0, 6]
    assert torch.equal(erode_mask(torch.from_numpy(m)), torch.from_numpy(e))
    assert np.array_equal(erode_mask(m, 1), m)


def test_erosion_ignores_the_border_ring_of_the_request():
    ring = request_mask() & ~erode_mask(request_mask())
    model = RegionVariance(CONTEXT, where=ring, outside=5.0)   # only R's border reads context
    x, req = scene(), [(0, 1, request_mask())]
    eroded_maps, eroded = GridSaliency(model).attribute(x, req)
    assert eroded[0]['empty_mask_won'] and eroded[0]['preservation_loss'] < 1e-6
    full_maps, full = GridSaliency(model, erode=False).attribute(x, req)
    assert full[0]['eroded_pixels'] == 64 and not full[0]['empty']
    assert full_maps[0][region_mask(CONTEXT)].min() > 0.8


def test_perturbation_chosen_per_request_by_loss_at_empty_mask():
    model, req = RegionMean(), [(0, 1, request_mask())]
    bright = scene(region_value=1.0)
    _, d = GridSaliency(model).attribute(bright, req)
    losses = [d[0]['perturbation_losses'][str(v)] for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert d[0]['perturbation'] == 1.0 and losses == sorted(losses, reverse=True)
    assert d[0]['empty_mask_won']          # grey 1.0 keeps the region's evidence: nothing to find
    maps, d = GridSaliency(model, perturbation_values=(0.0,)).attribute(bright, req)
    assert d[0]['perturbation'] == 0.0 and maps[0][region_mask(CONTEXT)].min() > 0.5
    # two requests in one batch, each with its own value
    dark = scene(region_value=0.0)
    images = torch.cat([bright, dark])
    _, d = GridSaliency(model).attribute(images, [(0, 1, request_mask()), (1, 0, request_mask())])
    assert [q['perturbation'] for q in d] == [1.0, 0.0]
    _, d = GridSaliency(model, perturbation='blur', blur_sigma=4).attribute(bright, req)
    assert d[0]['perturbation'] == 'blur' and list(d[0]['perturbation_losses']) == ['blur']


def test_validity_flag_follows_the_threshold():
    model, x, req = RegionVariance(CONTEXT), scene(), [(0, 1, request_mask())]
    _, d = GridSaliency(model, lam=2.0).attribute(x, req)       # keeping B costs more than it saves
    assert d[0]['empty'] and not d[0]['valid'] and d[0]['preservation_loss'] > 0.9
    _, d = GridSaliency(model, lam=2.0, validity_threshold=1.0).attribute(x, req)
    assert d[0]['valid']


REGIONS = [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(24, 32)), (slice(24, 32), slice(0, 8)),
           (slice(24, 32), slice(24, 32))]


class RegionVarianceNet(nn.Module):
    """Five classes; class k < 4 has the logit 40 (var over REGIONS[k] of feature k − 0.1), feature
    k a random near-identity 3x3 convolution of the image (so batch size matters to the kernels);
    class 4 (background) has the logit 0."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        weight = 0.05 * torch.randn(4, 3, 3, 3, generator=g)
        weight[:, :, 1, 1] += 1 / 3
        self.conv.weight.data, self.conv.bias.data = weight, torch.zeros(4)

    def forward(self, x):
        feat = self.conv(x)
        var = torch.stack([feat[:, k, r[0], r[1]].flatten(1).var(1, unbiased=False)
                           for k, r in enumerate(REGIONS)], 1)
        logits = torch.cat([40 * (var - 0.1), torch.zeros_like(var[:, :1])], 1)
        return logits[:, :, None, None].expand(-1, -1, *x.shape[-2:])


def test_batched_equals_one_by_one():
    model = RegionVarianceNet()
    g = torch.Generator().manual_seed(1)
    images = 0.35 + 0.3 * torch.rand(2, 3, S, S, generator=g)
    for k, r in enumerate(REGIONS):        # image 0 textured in regions 0 and 2, image 1 in 1 and 3
        images[k % 2, :, r[0], r[1]] = checkerboard(r)
    masks = []
    for top, left, h, w in ((9, 9, 10, 12), (12, 10, 8, 14), (10, 12, 12, 9)):
        m = torch.zeros(S, S, dtype=torch.bool)
        m[top:top + h, left:left + w] = True
        masks.append(m)
    requests = [(0, 0, masks[0]), (1, 1, masks[1]), (0, 2, masks[2]), (1, 3, masks[0]),
                (0, 2, masks[1]), (1, 1, masks[2])]
    options = dict(steps=40, grid_size=(4, 8), upsample='bilinear')
    batched, d_batched = GridSaliency(model, batch_size=6, **options).attribute(images, requests)
    single, d_single = GridSaliency(model, batch_size=1, **options).attribute(images, requests)
    assert batched.shape == (6, S, S)
    assert (batched - single).abs().max() <= 1e-4
    assert [d['perturbation'] for d in d_batched] == [d['perturbation'] for d in d_single]
    for (_, cls, mask), m, d in zip(requests, batched, d_batched):  # each found its own region
        region = region_mask(REGIONS[cls])
        assert d['valid'] and not d['empty']
        assert m[region].mean() > 5 * m[~region & ~mask].mean()


def tiny_segmentor():
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', 'configs', '_base_', 'models',
                                   'toy_unet.py'))
    cfg.model.backbone.update(base_channels=4, num_stages=2, strides=(1, 1),
                              enc_num_convs=(1, 1), dec_num_convs=(1, ), downsamples=(True, ),
                              enc_dilations=(1, 1), dec_dilations=(1, ))
    cfg.model.decode_head.update(in_channels=4, channels=4, in_index=1, num_classes=3)
    cfg.model.data_preprocessor.update(mean=[100.0, 120.0, 140.0], std=[50.0, 60.0, 70.0],
                                       size=(S, S))
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_segmentor_logits_match_its_own_inference():
    model = tiny_segmentor().eval()
    raw = torch.randint(0, 256, (3, S, S), dtype=torch.uint8)
    sample = SegDataSample(metainfo=dict(img_shape=(S, S), ori_shape=(S, S)),
                           gt_sem_seg=PixelData(data=torch.zeros(1, S, S, dtype=torch.long)))
    with torch.no_grad():
        expected = model.test_step(dict(inputs=[raw], data_samples=[sample]))[0].seg_logits.data
        logits = SegmentationLogits(model)(images_from_inputs([raw]))[0]
    assert torch.allclose(logits, expected, atol=1e-5)


def test_segmentor_inside_a_no_grad_loop_keeps_its_state():
    model = tiny_segmentor().train()
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.rand(2, 3, S, S)
    with torch.no_grad():
        maps, diags = GridSaliency(model, steps=3, batch_size=2).attribute(
            x, [(0, 1, request_mask()), (1, 2, request_mask())])
    assert maps.shape == (2, S, S) and len(diags) == 2
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_bad_input_is_refused_with_a_reason():
    gs = GridSaliency(RegionVariance(CONTEXT))
    with pytest.raises(ValueError, match='divide 0-255 images by 255'):
        gs.attribute(scene() * 255, [(0, 1, request_mask())])
    with pytest.raises(ValueError, match='mask of shape'):
        gs.attribute(scene(), [(0, 1, torch.ones(8, 8, dtype=torch.bool))])
    tiny = torch.zeros(S, S, dtype=torch.bool)
    tiny[0:2, 5:7] = True
    with pytest.raises(ValueError, match='no pixel left after the 3x3 erosion'):
        gs.attribute(scene(), [(0, 1, tiny)])
    with pytest.raises(ValueError, match='upsample must be one of'):
        GridSaliency(RegionVariance(CONTEXT), upsample='cubic')


def _script(args, monkeypatch):
    """Run tools/saliency/grid_saliency.py as __main__ in this process (saves an interpreter)."""
    monkeypatch.setattr(sys, 'argv', ['grid_saliency.py'] + [str(a) for a in args])
    runpy.run_path(osp.join(REPO, 'tools', 'saliency', 'grid_saliency.py'), run_name='__main__')


def test_cli_explains_a_split_or_files_and_resumes(tmp_path, tiny_config, trained_checkpoint,
                                                   monkeypatch):
    _, ckpt = trained_checkpoint
    out = tmp_path / 'grid'
    args = [tiny_config, ckpt, '--dataset-split', 'val', '--out', out, '--min-size', '20',
            '--steps', '3', '--max-images', '1']
    printed = run_cli([sys.executable, 'tools/saliency/grid_saliency.py'] + args)
    assert '1 images' in printed
    records = sorted((out / 'records').iterdir())
    assert len(records) == 1
    record = load_record(str(out), records[0].stem)
    n = len(record['requests'])
    assert n > 0 and record['saliency'].shape == (n, 64, 128) and record['gt'].shape == (64, 128)
    assert record['masks'].dtype == bool and record['image'].shape == (64, 128, 3)
    assert len(set(record['classes'].tolist())) == n       # per class: one request each
    assert all({'preservation_loss', 'valid', 'empty_mask_won', 'perturbation', 'area'}
               <= set(q) for q in record['requests'])
    assert len(list((out / 'overlays').glob('*.png'))) == n
    merged = json.load(open(out / 'diagnostics.json'))
    assert merged['num_requests'] == n and merged['images'][0]['name'] == records[0].stem
    before = records[0].stat().st_mtime_ns
    _script(args, monkeypatch)
    assert records[0].stat().st_mtime_ns == before      # resumed: nothing recomputed
    image = osp.join(osp.dirname(osp.dirname(tiny_config)), 'missing.png')
    with pytest.raises(SystemExit, match='does not exist'):
        _script([tiny_config, ckpt, '--img', image, '--out', tmp_path / 'x'], monkeypatch)
    with pytest.raises(SystemExit, match='needs annotations'):
        _script([tiny_config, ckpt, '--img', record['img_path'], '--requests', 'gt', '--out',
                 tmp_path / 'x'], monkeypatch)
    assert not osp.exists(tmp_path / 'x')               # nothing partial left behind
    _script([tiny_config, ckpt, '--img', record['img_path'], '--method', 'vg', '--min-size', '20',
             '--out', tmp_path / 'vg', '--no-overlays'], monkeypatch)
    vg = load_record(str(tmp_path / 'vg'), '00000_' + osp.splitext(osp.basename(
        record['img_path']))[0])
    assert 'gt' not in vg and vg['requests'][0]['method'] == 'vg'
    assert (vg['saliency'][vg['masks']] == 0).all() and vg['saliency'].max() > 0
    assert not osp.exists(tmp_path / 'vg' / 'overlays')
