"""Grid saliency (Hoyer, Munoz, Katiyar, Khoreva, Fischer, NeurIPS 2019): context explanations.

For a request — pixels R predicted as class c — grid saliency finds the smallest low-resolution
mask M of the image that, kept while the rest is replaced by a perturbation image a, preserves
the class-c softmax score f_c inside R::

    p(x, R) = x ⊙ R + a ⊙ (1 − R)                 (context-only mode: the request is never perturbed)
    x'      = x ⊙ M + p(x, R) ⊙ (1 − M)            (plain mode: p(x, R) = a)
    M*      = argmin_M  λ ‖M‖₁ + ‖R_e ⊙ max(f_c(x) − f_c(x'), 0)‖₁ / ‖R_e‖₁

with R_e the request eroded 3x3. Every detail of the supplementary (§S1.2, §S2.1) is an option of
:class:`GridSaliency` with the paper's value as default. Many requests (classes, instances,
images) are optimised together as one batch: each request's loss depends only on its own mask
(models run in eval mode, so samples do not interact), the summed loss gives each mask its own
gradient, and the result equals solving the requests one by one.

Images are *unit images*: float (N, C, H, W) in [0, 1], channels in the order the model's raw
input has (for an mmseg segmentor: the BGR order LoadImageFromFile yields, i.e. the packed
``inputs`` / 255, see :func:`images_from_inputs`). Perturbation values are grey levels in that
range. A segmentor's own data preprocessor (channel swap, mean / std) is applied inside the
differentiable forward, and logits come from its whole-image inference at input resolution.
"""
import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.utils import ProgressBar
from mmseg.models.segmentors import BaseSegmentor
from mmseg.models.utils import resize

from .requests import Request, erode_mask

__all__ = ['GridSaliency', 'SegmentationLogits', 'images_from_inputs', 'frozen',
           'as_requests', 'DEFAULT_PERTURBATIONS', 'UPSAMPLING', 'PERTURBATIONS', 'PENALTIES']

DEFAULT_PERTURBATIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
UPSAMPLING = ('nearest', 'bilinear')
PERTURBATIONS = ('constant', 'blur')
PENALTIES = ('sum', 'mean')


def images_from_inputs(inputs):
    """Unit images (N, C, H, W) float in [0, 1] from mmseg's packed ``inputs`` (a list of uint8
    (C, H, W) tensors of one size, or a (N, C, H, W) tensor with values in 0-255)."""
    if isinstance(inputs, (list, tuple)):
        inputs = torch.stack(list(inputs))
    if inputs.dim() == 3:
        inputs = inputs[None]
    return inputs.float() / 255.0


def as_requests(requests):
    """:class:`Request` tuples from (image, cls, mask[, gt_cls]) sequences."""
    return [r if isinstance(r, Request) else Request(*r) for r in requests]


@contextmanager
def frozen(model):
    """Eval mode, parameters not requiring gradients, gradients enabled (also inside an mmengine
    ``torch.no_grad`` test loop); the model's training flag and ``requires_grad`` flags are restored
    afterwards. Only gradients of the inputs are computed, and none accumulate in ``.grad``."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    training = model.training
    model.eval()
    for p in params:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            yield model
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        model.train(training)


class SegmentationLogits(nn.Module):
    """Class logits (N, K, H, W) at input resolution from unit images (N, C, H, W) in [0, 1].

    An mmseg segmentor sees ``255 * x`` through its data preprocessor's channel conversion and
    mean / std (no padding: the image size must suit the model, as in whole-image inference), and
    its ``encode_decode`` (whole inference; the decode head resizes the logits to the input size).
    Any other module is called on the unit images and must return (N, K, h, w) logits; smaller
    logits are resized bilinearly. The input normalisation is an affine map per channel
    (:meth:`normalise`), which the grid solver folds into precomputed tensors.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.is_segmentor = isinstance(model, BaseSegmentor)
        self.swap = False
        scale, shift = torch.ones(1), torch.zeros(1)
        if self.is_segmentor:
            pre = model.data_preprocessor
            self.swap = bool(getattr(pre, 'channel_conversion', False))
            scale = torch.full((1,), 255.0)
            if getattr(pre, '_enable_normalize', False):
                scale, shift = 255.0 / pre.std.flatten().float(), -(pre.mean / pre.std).flatten().float()
        device = next((p.device for p in model.parameters()), torch.device('cpu'))
        self.register_buffer('scale', scale.view(1, -1, 1, 1).to(device), persistent=False)
        self.register_buffer('shift', shift.view(1, -1, 1, 1).to(device), persistent=False)

    @property
    def device(self):
        return self.scale.device

    def _channels(self, x):
        return x.flip(1) if self.swap and x.shape[1] == 3 else x

    def normalise(self, x):
        """Unit images -> the model's input space (N, C, H, W)."""
        return self._channels(x) * self.scale + self.shift

    def normalise_delta(self, d):
        """A difference of unit images -> the difference of their model inputs."""
        return self._channels(d) * self.scale

    def logits_of(self, inputs):
        """Logits (N, K, H, W) of model-space inputs (N, C, H, W)."""
        h, w = inputs.shape[-2:]
        if self.is_segmentor:
            metas = [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w))] * len(inputs)
            logits = self.model.encode_decode(inputs, metas)
        else:
            logits = self.model(inputs)
        if logits.shape[-2:] != (h, w):
            align = getattr(getattr(self.model, 'decode_head', None), 'align_corners', False)
            logits = resize(logits, size=(h, w), mode='bilinear', align_corners=align)
        return logits

    def forward(self, x):
        return self.logits_of(self.normalise(x))


def class_probability(logits, cls):
    """Softmax probability (B, 1, H, W) of class ``cls`` (B,) long from logits (B, K, H, W)."""
    index = cls.view(-1, 1, 1, 1).expand(-1, 1, *logits.shape[-2:])
    return (logits.gather(1, index) - logits.logsumexp(1, keepdim=True)).exp()


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of (N, C, H, W) with std ``sigma`` pixels (replicated borders)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode='replicate')
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _prepare(images, requests, device):
    """Unit images on ``device`` and the requests' bool masks (R, H, W) there."""
    if not torch.is_tensor(images) or not images.is_floating_point():
        raise TypeError('images must be a float tensor (N, C, H, W) in [0, 1]; convert mmseg '
                        'inputs with images_from_inputs (uint8 / 255)')
    if images.dim() == 3:
        images = images[None]
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f'images must lie in [0, 1] (got {float(images.min()):.3g} to '
                         f'{float(images.max()):.3g}); divide 0-255 images by 255')
    requests = as_requests(requests)
    if not requests:
        raise ValueError('no requests to explain: pass (image index, class, HxW bool mask) tuples')
    h, w = images.shape[-2:]
    masks = []
    for i, r in enumerate(requests):
        m = torch.as_tensor(r.mask).to(device=device, dtype=torch.bool)
        if m.shape != (h, w):
            raise ValueError(f'request {i}: mask of shape {tuple(m.shape)}, images are {h}x{w}')
        if not 0 <= r.image < len(images):
            raise IndexError(f'request {i}: image index {r.image} outside the {len(images)} images')
        masks.append(m)
    return images.to(device), requests, torch.stack(masks)


class GridSaliency:
    """Grid-saliency explainer for any mmseg segmentor or a module returning logits (N, K, H, W).

    Args:
        model (nn.Module): mmseg segmentor (``init_segmentor``) or plain module; see
            :class:`SegmentationLogits` for the input convention.
        grid_size (int | tuple[int, int]): resolution (h, w) of the optimised mask. Paper: 4x4 on
            64x64 images; the Cityscapes grid is not published.
        upsample (str): 'nearest' (paper, toy set) or 'bilinear' (paper, Cityscapes) upsampling of
            M to the image size (``align_corners=False``).
        perturbation (str): 'constant' (paper: a grey image, the value chosen per request among
            ``perturbation_values`` by the lowest preservation loss at M = 0) or 'blur' (the image
            blurred with ``blur_sigma``, as the meaningful perturbation of Fong & Vedaldi).
        perturbation_values (Sequence[float]): grey levels in [0, 1] (paper: 0, .25, .5, .75, 1).
        blur_sigma (float): Gaussian std in pixels of the 'blur' perturbation (not in the paper).
        lam (float): λ, weight of ‖M‖₁ (paper: 0.05).
        lr, momentum (float): SGD learning rate and momentum (paper: 0.2, 0.5).
        steps (int): SGD steps (paper: 100).
        init (float): initial value of every cell of M (paper: 0.5).
        clip (float): after every step, values <= ``clip`` are set to 0 (paper: 0.2; 0 = off).
            M is also kept in [0, 1].
        erode (bool): erode the request with an ``erosion`` x ``erosion`` square for the
            preservation loss (paper: yes, 3x3); the image keeps the whole request.
        erosion (int): erosion kernel size (paper: 3).
        context_only (bool): never perturb the request, M explains the context (paper's context
            saliency, default); False = plain grid saliency (x' = x ⊙ M + a ⊙ (1 − M)).
        validity_threshold (float): a result is valid if its preservation loss is <= this (paper:
            0.1, i.e. >= 90 % of the softmax score restored).
        penalty (str): ‖M‖₁ as the 'sum' over the grid cells (the literal L1 norm, default) or
            their 'mean'; the paper does not say which. With 'sum', cells that do not help the
            preservation loss fall below ``clip`` within ~15 steps; with 'mean' they barely move
            in 100 steps on a 4x4 grid.
        batch_size (int): requests optimised together (memory bound; results do not depend on it).
    """

    def __init__(self, model, grid_size=4, upsample='nearest', perturbation='constant',
                 perturbation_values=DEFAULT_PERTURBATIONS, blur_sigma=10.0, lam=0.05, lr=0.2,
                 momentum=0.5, steps=100, init=0.5, clip=0.2, erode=True, erosion=3,
                 context_only=True, validity_threshold=0.1, penalty='sum', batch_size=16):
        grid = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
        if len(grid) != 2 or min(grid) < 1:
            raise ValueError(f'grid_size must be a positive int or (h, w), got {grid_size!r}')
        for name, value, choices in (('upsample', upsample, UPSAMPLING),
                                     ('perturbation', perturbation, PERTURBATIONS),
                                     ('penalty', penalty, PENALTIES)):
            if value not in choices:
                raise ValueError(f'{name} must be one of {choices}, got {value!r}')
        values = tuple(float(v) for v in perturbation_values)
        if perturbation == 'constant' and (not values or min(values) < 0 or max(values) > 1):
            raise ValueError(f'perturbation_values must be grey levels in [0, 1], got {values}')
        if steps < 0 or batch_size < 1 or not 0 <= init <= 1:
            raise ValueError('need steps >= 0, batch_size >= 1 and init in [0, 1]')
        self.net = SegmentationLogits(model)
        self.model = model
        self.grid_size = grid
        self.upsample, self.perturbation, self.perturbation_values = upsample, perturbation, values
        self.blur_sigma, self.lam, self.lr, self.momentum = blur_sigma, lam, lr, momentum
        self.steps, self.init, self.clip = int(steps), float(init), float(clip)
        self.erode, self.erosion, self.context_only = erode, erosion, context_only
        self.validity_threshold, self.penalty, self.batch_size = validity_threshold, penalty, batch_size

    # ------------------------------------------------------------------------------------------
    def attribute(self, images, requests, progress=False):
        """Explain every request.

        Args:
            images (Tensor): unit images (N, C, H, W) in [0, 1].
            requests (Sequence[Request | tuple]): (image index, class, bool mask (H, W)[, gt
                class]); see :mod:`mmseg_bias.saliency.requests` for builders.
            progress (bool): progress bar over the request batches.

        Returns:
            tuple[Tensor, list[dict]]: saliency maps (R, H, W) float32 in [0, 1] on the CPU (zero
            inside the request in context-only mode) and per request the diagnostics:
            ``image``, ``cls``, ``gt_cls``, ``perturbation`` (grey level or 'blur'),
            ``perturbation_losses`` (preservation loss at M = 0 per candidate),
            ``preservation_loss`` and ``loss`` (with λ‖M‖₁) of the returned map,
            ``optimised_loss`` (objective of the optimised mask), ``empty_loss`` (objective of
            the empty mask), ``empty_mask_won`` (the empty mask's objective is <= the optimised
            one's, so the empty mask is returned; also when the optimiser emptied the mask),
            ``empty`` (the returned map is all zero), ``valid`` (preservation loss <= threshold),
            ``area`` (mean saliency over the context pixels), ``request_pixels``,
            ``eroded_pixels``.
        """
        images, requests, masks = _prepare(images, requests, self.net.device)
        eroded = erode_mask(masks, self.erosion) if self.erode and self.erosion > 1 else masks
        counts = eroded.flatten(1).sum(1)
        if (counts == 0).any():
            bad = int(torch.nonzero(counts == 0)[0])
            raise ValueError(f'request {bad} has no pixel left after the {self.erosion}x'
                             f'{self.erosion} erosion; drop small requests (min_size) or pass '
                             'erode=False')
        maps, diags = [], []
        chunks = [range(s, min(s + self.batch_size, len(requests)))
                  for s in range(0, len(requests), self.batch_size)]
        bar = ProgressBar(len(chunks)) if progress else None
        with frozen(self.model):
            reference = self._reference(images, requests)
            for chunk in chunks:
                idx = list(chunk)
                m, d = self._solve(images, [requests[i] for i in idx], masks[idx], eroded[idx],
                                   counts[idx], reference[idx])
                maps.append(m)
                diags += d
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.file.write('\n')
        return torch.cat(maps), diags

    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _reference(self, images, requests):
        """f_c(x): (R, 1, H, W) probability of each request's class on its unperturbed image."""
        needed = sorted({r.image for r in requests})
        probs = torch.empty(len(requests), 1, *images.shape[-2:], device=images.device)
        for s in range(0, len(needed), self.batch_size):
            part = needed[s:s + self.batch_size]
            logits = self.net(images[part])
            for j, n in enumerate(part):
                rows = [i for i, r in enumerate(requests) if r.image == n]
                cls = torch.tensor([requests[i].cls for i in rows], device=images.device)
                probs[rows] = class_probability(logits[j:j + 1].expand(len(rows), -1, -1, -1), cls)
        return probs

    def _norm(self, m):
        return m.abs().flatten(1).sum(1) if self.penalty == 'sum' else m.abs().flatten(1).mean(1)

    def _up(self, m, size):
        return F.interpolate(m, size=size, mode=self.upsample,
                             align_corners=False if self.upsample == 'bilinear' else None)

    def _preservation(self, inputs, cls, reference, weight):
        """(B,) preservation loss of model-space inputs; ``weight`` = R_e / ‖R_e‖₁."""
        prob = class_probability(self.net.logits_of(inputs), cls)
        return ((reference - prob).clamp_min_(0) * weight).flatten(1).sum(1)

    def _candidates(self, x):
        """Perturbation images: [(label, a)], a broadcastable to x (B, C, H, W)."""
        if self.perturbation == 'blur':
            return [('blur', gaussian_blur(x, self.blur_sigma))]
        return [(v, torch.full((1, 1, 1, 1), v, device=x.device, dtype=x.dtype))
                for v in self.perturbation_values]

    def _solve(self, images, requests, masks, eroded, counts, reference):
        """Optimise one batch of requests; returns maps (B, H, W) on the CPU and diagnostics."""
        net, size = self.net, images.shape[-2:]
        b = len(requests)
        x = images[[r.image for r in requests]]
        cls = torch.tensor([r.cls for r in requests], device=x.device)
        keep = masks[:, None].to(x.dtype)
        weight = eroded[:, None].to(x.dtype) / counts.view(-1, 1, 1, 1).to(x.dtype)
        # choose the perturbation per request: lowest preservation loss at M = 0
        with torch.no_grad():
            losses, bases = [], []
            for label, a in self._candidates(x):
                base = x * keep + a * (1 - keep) if self.context_only else a.expand_as(x)
                losses.append(self._preservation(net.normalise(base), cls, reference, weight))
                bases.append((label, a))
            losses = torch.stack(losses, 1)  # (B, V)
            best = losses.argmin(1).tolist()
            a = torch.stack([bases[k][1].expand_as(x)[i] for i, k in enumerate(best)])
            base = x * keep + a * (1 - keep) if self.context_only else a
            base_in = net.normalise(base)
            delta_in = net.normalise_delta(x - base)
            empty_loss = losses[torch.arange(b), best]
            del base, a
        mask = torch.full((b, 1, *self.grid_size), self.init, device=x.device, requires_grad=True)
        velocity = torch.zeros_like(mask)
        for _ in range(self.steps):
            inputs = torch.addcmul(base_in, self._up(mask, size), delta_in)
            total = self.lam * self._norm(mask) + self._preservation(inputs, cls, reference, weight)
            grad, = torch.autograd.grad(total.sum(), mask)
            with torch.no_grad():
                velocity.mul_(self.momentum).add_(grad)
                mask.sub_(velocity, alpha=self.lr).clamp_(0, 1)
                mask.masked_fill_(mask <= self.clip, 0)
        with torch.no_grad():
            mask = mask.detach()
            pres = self._preservation(torch.addcmul(base_in, self._up(mask, size), delta_in), cls,
                                      reference, weight)
            optimised = self.lam * self._norm(mask) + pres
            won = empty_loss <= optimised
            mask[won] = 0
            pres = torch.where(won, empty_loss, pres)
            final = torch.where(won, empty_loss, optimised)
            maps = self._up(mask, size)[:, 0]
            context = ~masks
            if self.context_only:
                maps = maps * context
            area = (maps * context).flatten(1).sum(1) / context.flatten(1).sum(1).clamp_min(1)
        maps, area, losses = maps.float().cpu(), area.cpu(), losses.cpu()
        values = [label for label, _ in bases]
        diags = []
        for i, r in enumerate(requests):
            diags.append(dict(
                image=int(r.image), cls=int(r.cls), gt_cls=None if r.gt_cls is None else int(r.gt_cls),
                perturbation=values[best[i]],
                perturbation_losses={str(v): float(losses[i, j]) for j, v in enumerate(values)},
                preservation_loss=float(pres[i]), loss=float(final[i]),
                optimised_loss=float(optimised[i]), empty_loss=float(empty_loss[i]),
                empty_mask_won=bool(won[i]), empty=bool((maps[i] == 0).all()),
                valid=bool(pres[i] <= self.validity_threshold), area=float(area[i]),
                request_pixels=int(masks[i].sum()), eroded_pixels=int(counts[i])))
        return maps, diags
