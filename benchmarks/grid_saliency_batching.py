"""Grid saliency: batched solver vs one request at a time, and both against the model's floor.

The same requests are explained by :class:`GridSaliency` with ``batch_size = N`` (all together)
and with ``batch_size = 1``; the maps must agree (``max_abs_diff``). The floor is the model's bare
forward + backward (to the input, parameters frozen, as the solver needs) on a batch of the same
size for the same number of steps; ``overhead_vs_floor`` = batched solver time / floor time
(the solver's extra work — the reference forward, one forward per perturbation candidate and a
final forward — counts as overhead). ``speedup`` = one-by-one time / batched time. Each round
times the three back to back after a warm-up; figures are medians over rounds of per-round
ratios. Targets (issue #7): max_abs_diff <= 1e-4, overhead_vs_floor <= 1.10, speedup >= 1.15 on
CPU.

Models: the toy U-Net of configs/_base_/models/toy_unet.py at full resolution and 32 base
channels (``TOY_FULL``; 1.8 M parameters, 11 classes, random weights) at 64x64 and, without
--quick, HRNet-W18 at 512x1024 (mmseg::hrnet/fcn_hr18_4xb2-80k_cityscapes-512x1024.py, random
weights).

    python benchmarks/grid_saliency_batching.py [--quick] [--requests 16] [--steps 100]
        [--rounds 2] [--hrnet-requests 2] [--hrnet-steps 10] [--threads N] [--device cpu]

The last line printed is one JSON object: the toy U-Net's figures at the top level, HRNet-W18's
under "hrnet_w18".
"""
import argparse
import json
import os.path as osp
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_bias  # noqa: F401
from mmseg_bias.saliency import GridSaliency, Request, frozen

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY = osp.join(REPO, 'configs', '_base_', 'models', 'toy_unet.py')
# The toy U-Net at full resolution and 32-256 channels (1.8 M parameters): the toy benchmark's
# model is 1/9 of its cost per image, small enough that timer noise swamps batching's effect.
TOY_FULL = dict(backbone=dict(base_channels=32, strides=(1, 1, 1, 1)),
                decode_head=dict(in_channels=32, channels=32))
HRNET = 'mmseg::hrnet/fcn_hr18_4xb2-80k_cityscapes-512x1024.py'


def build(config, device, overrides=None):
    from mmseg_bias.apis import read_config
    cfg = read_config(config) if '::' in config else Config.fromfile(config)
    cfg.merge_from_dict(dict(model=overrides or {}))
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return revert_sync_batchnorm(MODELS.build(cfg.model)).to(device).eval()


def make_requests(explainer, n, size, device, seed=0):
    """``n`` requests on ``ceil(n / 4)`` smooth random images: rectangles of various sizes, each
    explaining the class its pixels are mostly predicted as."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    num_images = (n + 3) // 4
    coarse = torch.rand(num_images, 3, 8, 8, generator=g)
    images = torch.nn.functional.interpolate(coarse, size=size, mode='bilinear').to(device)
    with frozen(explainer.model), torch.no_grad():
        pred = explainer.net(images).argmax(1).cpu()
    requests = []
    for i in range(n):
        rh, rw = int(h * (0.2 + 0.3 * torch.rand(1, generator=g))), \
            int(w * (0.2 + 0.3 * torch.rand(1, generator=g)))
        top, left = int(torch.randint(0, h - rh, (1, ), generator=g)), \
            int(torch.randint(0, w - rw, (1, ), generator=g))
        mask = torch.zeros(h, w, dtype=torch.bool)
        mask[top:top + rh, left:left + rw] = True
        img = i % num_images
        cls = int(torch.bincount(pred[img][mask]).argmax())
        requests.append(Request(img, cls, mask))
    return images, requests


def floor_time(explainer, batch, size, steps, device):
    """Seconds for ``steps`` bare forward + backward passes of the model on ``batch`` images."""
    x = torch.rand(batch, 3, *size, device=device)
    inputs = explainer.net.normalise(x).requires_grad_()
    with frozen(explainer.model):
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            grad, = torch.autograd.grad(explainer.net.logits_of(inputs).sum(), inputs)
        _sync(device)
    return time.perf_counter() - start


def _sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def timed(fn, device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - start, out


def measure(model, size, n, steps, rounds, device, upsample):
    options = dict(steps=steps, upsample=upsample)
    batched = GridSaliency(model, batch_size=n, **options)
    single = GridSaliency(model, batch_size=1, **options)
    images, requests = make_requests(batched, n, size, device)
    # warm-up: kernels for both batch sizes are chosen before anything is timed
    GridSaliency(model, batch_size=n, steps=2).attribute(images, requests)
    GridSaliency(model, batch_size=1, steps=2).attribute(images, requests[:1])
    floor_time(batched, n, size, 1, device)
    floor_time(batched, 1, size, 1, device)
    speedups, overheads, diffs, rows = [], [], [], []
    for _ in range(rounds):
        t_batched, (maps_b, diag_b) = timed(lambda: batched.attribute(images, requests), device)
        t_single, (maps_s, _) = timed(lambda: single.attribute(images, requests), device)
        t_floor = floor_time(batched, n, size, steps, device)
        t_floor_1 = floor_time(batched, 1, size, steps, device) * n
        speedups.append(t_single / t_batched)
        overheads.append(t_batched / t_floor)
        diffs.append(float((maps_b - maps_s).abs().max()))
        rows.append(dict(batched_s=t_batched, one_by_one_s=t_single, floor_s=t_floor,
                         floor_one_by_one_s=t_floor_1,
                         ms_per_map_step_batched=1000 * t_batched / (n * steps),
                         ms_per_map_step_one_by_one=1000 * t_single / (n * steps)))
        print(json.dumps(dict(size=list(size), requests=n, steps=steps, **rows[-1],
                              speedup=speedups[-1], overhead_vs_floor=overheads[-1],
                              overhead_one_by_one=t_single / t_floor_1,
                              max_abs_diff=diffs[-1]), default=float), flush=True)
    return dict(speedup=statistics.median(speedups),
                overhead_vs_floor=statistics.median(overheads), max_abs_diff=max(diffs),
                requests=n, steps=steps, size=list(size), rounds=rounds,
                valid=sum(d['valid'] and not d['empty'] for d in diag_b),
                ms_per_map_step_batched=statistics.median(
                    r['ms_per_map_step_batched'] for r in rows),
                ms_per_map_step_one_by_one=statistics.median(
                    r['ms_per_map_step_one_by_one'] for r in rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='toy U-Net only, fewer requests and steps (< 1 minute)')
    parser.add_argument('--requests', type=int, help='toy requests (default 16, quick 6)')
    parser.add_argument('--steps', type=int, help='toy SGD steps (default 100 as the paper, '
                        'quick 40)')
    parser.add_argument('--rounds', type=int, help='timing rounds (default 2, quick 1)')
    parser.add_argument('--hrnet-requests', type=int, default=2)
    parser.add_argument('--hrnet-steps', type=int, default=10)
    parser.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.requests or (6 if args.quick else 16)
    steps = args.steps or (40 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 2)
    result = measure(build(TOY, args.device, TOY_FULL), (64, 64), n, steps, rounds, args.device,
                     'nearest')
    result.update(device=args.device, threads=torch.get_num_threads())
    if not args.quick:
        result['hrnet_w18'] = measure(build(HRNET, args.device), (512, 1024), args.hrnet_requests,
                                      args.hrnet_steps, 1, args.device, 'bilinear')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
