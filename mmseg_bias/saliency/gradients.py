"""Gradient baselines turned into context saliency (grid saliency paper, §4 / supp. §S1.2).

Vanilla gradient (VG), integrated gradients (IG, 25 steps) and SmoothGrad (SG, 25 samples,
σ = 0.15 (max x − min x)) of the mean request score S = Σ R ⊙ f_c(x) / ‖R‖₁ (f_c: class-c softmax),
computed with Captum (``Saliency``, ``IntegratedGradients``, ``NoiseTunnel``); the attribution's
absolute value is summed over channels and zeroed inside the request, leaving a context map.
Images and models follow the conventions of :mod:`mmseg_bias.saliency.grid` (unit images in
[0, 1]; attributions are taken with respect to them).
"""
from contextlib import nullcontext

import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from mmengine.utils import ProgressBar

from .grid import SegmentationLogits, _prepare, class_probability, frozen
from .requests import erode_mask

__all__ = ['GradientSaliency', 'METHODS']

METHODS = ('vg', 'ig', 'sg')


class GradientSaliency:
    """VG / IG / SG context saliency with the call of :class:`~mmseg_bias.saliency.GridSaliency`.

    Args:
        model (nn.Module): mmseg segmentor or module returning logits (see SegmentationLogits).
        method (str): 'vg' (Captum Saliency), 'ig' (IntegratedGradients) or 'sg' (NoiseTunnel
            smoothgrad over Saliency).
        n_steps (int): IG interpolation steps (paper: 25).
        ig_method (str): Captum's IG integration rule ('gausslegendre', Captum's default;
            'riemann_trapezoid', ...); the paper does not say.
        baseline (float): IG baseline grey level in [0, 1] (the paper does not say; 0 = black,
            Captum's default).
        nt_samples (int): SG noise samples (paper: 25).
        stdev_frac (float): SG noise std as a fraction of each image's (max − min) (paper: 0.15).
        sg_abs_inside (bool): SG averages raw gradients and takes |.| afterwards (False, the
            SmoothGrad definition) or averages |gradients| (True, Captum's Saliency default).
        erode (bool): use the 3x3-eroded request in the score (the paper erodes only for grid
            saliency's loss; default False).
        erosion (int): erosion kernel size when ``erode``.
        batch_size (int): requests per Captum call; also the number of forward samples per
            batch for IG and SG.
        seed (int, optional): seed of SG's noise (torch generator state is restored afterwards).
    """

    def __init__(self, model, method='vg', n_steps=25, ig_method='gausslegendre', baseline=0.0,
                 nt_samples=25, stdev_frac=0.15, sg_abs_inside=False, erode=False, erosion=3,
                 batch_size=16, seed=0):
        if method not in METHODS:
            raise ValueError(f'method must be one of {METHODS}, got {method!r}')
        self.model, self.net, self.method = model, SegmentationLogits(model), method
        self.n_steps, self.ig_method, self.baseline = n_steps, ig_method, float(baseline)
        self.nt_samples, self.stdev_frac, self.sg_abs_inside = nt_samples, stdev_frac, sg_abs_inside
        self.erode, self.erosion, self.batch_size, self.seed = erode, erosion, batch_size, seed

    def score(self, images, weight, cls):
        """Mean request score (B,): Σ weight ⊙ f_c(images), ``weight`` = R / ‖R‖₁ (B, 1, H, W)."""
        return (class_probability(self.net(images), cls) * weight).flatten(1).sum(1)

    def _attribute_batch(self, x, weight, cls, stdev):
        args = (weight, cls)
        if self.method == 'vg':
            return Saliency(self.score).attribute(x, abs=False, additional_forward_args=args)
        if self.method == 'ig':
            return IntegratedGradients(self.score).attribute(
                x, baselines=self.baseline, additional_forward_args=args, n_steps=self.n_steps,
                method=self.ig_method, internal_batch_size=max(self.batch_size, len(x)))
        return NoiseTunnel(Saliency(self.score)).attribute(
            x, nt_type='smoothgrad', nt_samples=self.nt_samples, stdevs=stdev,
            nt_samples_batch_size=max(1, self.batch_size // len(x)), abs=self.sg_abs_inside,
            additional_forward_args=args)

    def attribute(self, images, requests, reduce=True, progress=False):
        """Explain every request.

        Args:
            images (Tensor): unit images (N, C, H, W) in [0, 1].
            requests (Sequence[Request | tuple]): (image index, class, bool mask (H, W)[, gt]).
            reduce (bool): return context maps (R, H, W): |attribution| summed over channels,
                zero inside R; False returns the signed attributions (R, C, H, W) as Captum
                gives them (e.g. to check IG's completeness).
            progress (bool): progress bar over the batches.

        Returns:
            tuple[Tensor, list[dict]]: maps on the CPU and per request ``image``, ``cls``,
            ``gt_cls``, ``method``, ``score`` (mean request score on the image),
            ``request_pixels``, ``empty`` (map all zero), ``valid`` (always True) and
            ``empty_mask_won`` (always False), so results read like grid saliency's.
        """
        images, requests, masks = _prepare(images, requests, self.net.device)
        used = erode_mask(masks, self.erosion) if self.erode else masks
        counts = used.flatten(1).sum(1)
        if (counts == 0).any():
            raise ValueError(f'request {int(torch.nonzero(counts == 0)[0])} has no pixel'
                             + (' left after the erosion' if self.erode else ''))
        flat = images.flatten(1)
        stdevs = (self.stdev_frac * (flat.amax(1) - flat.amin(1))).tolist()
        # SG takes one noise std per call: batch requests whose images share it
        sg = self.method == 'sg'
        order = sorted(range(len(requests)), key=lambda i: stdevs[requests[i].image]) \
            if sg else range(len(requests))
        batches, current = [], []
        for i in order:
            if current and (len(current) == self.batch_size or sg and
                            stdevs[requests[i].image] != stdevs[requests[current[0]].image]):
                batches.append(current)
                current = []
            current.append(i)
        batches.append(current)
        out = [None] * len(requests)
        scores = torch.empty(len(requests))
        bar = ProgressBar(len(batches)) if progress else None
        device = images.device
        rng = torch.random.fork_rng(devices=[device.index or 0] if device.type == 'cuda' else [])\
            if sg else nullcontext()
        with frozen(self.model), rng:
            if sg:
                torch.manual_seed(self.seed)
            for idx in batches:
                x = images[[requests[i].image for i in idx]].requires_grad_()
                weight = (used[idx, None].to(x.dtype) / counts[idx].view(-1, 1, 1, 1))
                cls = torch.tensor([requests[i].cls for i in idx], device=x.device)
                attr = self._attribute_batch(x, weight, cls, stdevs[requests[idx[0]].image])
                with torch.no_grad():
                    scores[idx] = self.score(x, weight, cls).cpu()
                for j, i in enumerate(idx):
                    out[i] = attr[j].detach()
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.file.write('\n')
        attributions = torch.stack(out)
        if reduce:
            attributions = attributions.abs().sum(1) * ~masks
        attributions = attributions.float().cpu()
        diags = [dict(image=int(r.image), cls=int(r.cls),
                      gt_cls=None if r.gt_cls is None else int(r.gt_cls), method=self.method,
                      score=float(scores[i]), request_pixels=int(masks[i].sum()),
                      empty=bool((attributions[i] == 0).all()), valid=True, empty_mask_won=False)
                 for i, r in enumerate(requests)]
        return attributions, diags
