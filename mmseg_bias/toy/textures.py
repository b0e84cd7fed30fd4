"""The texture pool of Texture-MNIST: 25 procedural grey textures, or images from a folder.

The paper crops its digits' fore- and backgrounds from 25 texture images of at least 400x400
made with a background-pattern generator; those images are not distributed, so
:func:`procedural_textures` draws 25 distinct ones from 19 families (:data:`TEXTURES` lists each
with its parameters; every random texture has its own fixed seed, so the pool is the same on
every run). The first five (:data:`BIAS_TEXTURES`) are bold, regular patterns used as bias
textures by default, as the paper's Fig. S2 frames five of its textures.

By default every texture is normalised to the same mean grey (0.5) and standard deviation
(``contrast``), so the digit is visible only as a texture boundary — the paper's textures are
"subtle patterns" of similar brightness; intensity alone would make the shapes too easy and the
context shortcut unattractive. :func:`load_textures` reads a user folder instead
(``--texture-dir``); :func:`random_crop` cuts the per-sample crops.
"""
import functools
import os
import os.path as osp

import cv2
import numpy as np
from scipy import ndimage

__all__ = ['TEXTURES', 'BIAS_TEXTURES', 'procedural_textures', 'load_textures',
           'normalise_texture', 'random_crop', 'IMAGE_SUFFIXES']

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')

# (name, family, parameters). Lengths in pixels, angles in degrees.
TEXTURES = (
    ('checker_8', 'checker', dict(cell=8, angle=0)),
    ('stripes_diag_8', 'grating', dict(period=8, angle=45, profile='square')),
    ('dots_hex_10', 'dots', dict(spacing=10, radius=3.0, hexagonal=True)),
    ('rings_10', 'rings', dict(period=10)),
    ('bricks_16x8', 'bricks', dict(width=16, height=8, mortar=2)),
    ('stripes_v_5', 'grating', dict(period=5, angle=0, profile='square')),
    ('stripes_h_12', 'grating', dict(period=12, angle=90, profile='sine')),
    ('stripes_diag_14', 'grating', dict(period=14, angle=-30, profile='square')),
    ('checker_rot_12', 'checker', dict(cell=12, angle=45)),
    ('dots_random', 'random_dots', dict(density=0.02, radius=1.5, seed=8)),
    ('grid_lines_10', 'grid', dict(spacing=10, width=2)),
    ('crosshatch_7', 'crosshatch', dict(period=7, width=1.5)),
    ('plaid', 'plaid', dict(periods=(9, 15), angles=(20, 110))),
    ('noise_fine', 'noise', dict(sigma=0.8, seed=13)),
    ('noise_clouds', 'noise', dict(sigma=5.0, seed=14)),
    ('fractal', 'fractal', dict(beta=2.0, seed=15)),
    ('voronoi_edges', 'voronoi', dict(cells=400, edges=True, seed=16)),
    ('voronoi_mosaic', 'voronoi', dict(cells=900, edges=False, seed=17)),
    ('zigzag', 'zigzag', dict(period=10, wavelength=16, amplitude=5)),
    ('waves', 'waves', dict(period=8, wavelength=40, amplitude=6)),
    ('honeycomb_9', 'honeycomb', dict(cell=9, width=1.5)),
    ('hatching', 'hatching', dict(strokes=5000, length=9, seed=21)),
    ('wood', 'wood', dict(period=7, turbulence=12.0, seed=22)),
    ('diamond_dots_12', 'diamonds', dict(cell=12)),
    ('maze', 'maze', dict(scale=2.2, seed=24)),
)
BIAS_TEXTURES = (0, 1, 2, 3, 4)


def _coords(size, angle=0):
    """Pixel coordinates (u, v) rotated by ``angle`` degrees: (size, size) float64 each."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    t = np.deg2rad(angle)
    return x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)


def _grating(size, period, angle, profile):
    u, _ = _coords(size, angle)
    wave = np.sin(2 * np.pi * u / period)
    return wave > 0 if profile == 'square' else wave


def _checker(size, cell, angle):
    u, v = _coords(size, angle)
    return (np.floor(u / cell) + np.floor(v / cell)) % 2


def _dots(size, spacing, radius, hexagonal):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    row_h = spacing * (np.sqrt(3) / 2 if hexagonal else 1)
    row = np.round(y / row_h)
    shift = (row % 2) * spacing / 2 if hexagonal else 0
    dy = y - row * row_h
    dx = (x - shift) - np.round((x - shift) / spacing) * spacing
    return np.hypot(dx, dy) <= radius


def _random_dots(size, density, radius, seed):
    rng = np.random.default_rng(seed)
    centres = rng.random((size, size)) < density
    dist = ndimage.distance_transform_edt(~centres)
    return dist <= radius


def _rings(size, period):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(x - size / 2, y - size / 2)
    return np.sin(2 * np.pi * r / period) > 0


def _bricks(size, width, height, mortar):
    y, x = np.mgrid[0:size, 0:size]
    row = y // height
    xs = (x + (row % 2) * (width // 2)) % width
    return ~((y % height < mortar) | (xs < mortar))


def _grid(size, spacing, width):
    y, x = np.mgrid[0:size, 0:size]
    return (y % spacing < width) | (x % spacing < width)


def _crosshatch(size, period, width):
    out = np.zeros((size, size), bool)
    for angle in (45, -45):
        u, _ = _coords(size, angle)
        out |= np.abs(u - np.round(u / period) * period) < width / 2
    return out


def _plaid(size, periods, angles):
    return sum(np.sin(2 * np.pi * _coords(size, a)[0] / p) for p, a in zip(periods, angles))


def _noise(size, sigma, seed):
    return ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((size, size)),
                                   sigma, mode='wrap')


def _fractal(size, beta, seed):
    spectrum = np.fft.fft2(np.random.default_rng(seed).standard_normal((size, size)))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size)))
    f[0, 0] = 1.0
    return np.real(np.fft.ifft2(spectrum / f ** (beta / 2)))


def _voronoi(size, cells, edges, seed):
    rng = np.random.default_rng(seed)
    seeds = np.zeros((size, size), bool)
    seeds.flat[rng.choice(size * size, cells, replace=False)] = True
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    cell_id = iy * size + ix
    if not edges:
        values = rng.random(size * size)
        return values[cell_id]
    return (np.diff(cell_id, axis=0, prepend=cell_id[:1]) != 0) | \
        (np.diff(cell_id, axis=1, prepend=cell_id[:, :1]) != 0)


def _zigzag(size, period, wavelength, amplitude):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    tri = np.abs((x / wavelength) % 1 - 0.5) * 2  # triangle wave in [0, 1]
    return np.sin(2 * np.pi * (y + amplitude * tri) / period) > 0


def _waves(size, period, wavelength, amplitude):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.sin(2 * np.pi * (y + amplitude * np.sin(2 * np.pi * x / wavelength)) / period) > 0


def _honeycomb(size, cell, width):
    """Edges of the Voronoi diagram of a hexagonal lattice (a honeycomb), ``width`` wide."""
    seeds = np.zeros((size, size), bool)
    row_h = cell * np.sqrt(3) / 2
    for r in range(int(size / row_h) + 1):
        xs = np.arange((r % 2) * cell / 2, size, cell)
        seeds[int(round(r * row_h)), np.round(xs).astype(int).clip(0, size - 1)] = True
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    cell_id = iy * size + ix
    edges = (np.diff(cell_id, axis=0, prepend=cell_id[:1]) != 0) | \
        (np.diff(cell_id, axis=1, prepend=cell_id[:, :1]) != 0)
    return ndimage.distance_transform_edt(~edges) < width


def _hatching(size, strokes, length, seed):
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.uint8)
    for _ in range(strokes):
        cy, cx = rng.uniform(0, size, 2)
        t = rng.normal(np.pi / 3, 0.25)
        d = np.array([np.cos(t), np.sin(t)]) * length / 2
        p0 = (int(cx - d[0]), int(cy - d[1]))
        p1 = (int(cx + d[0]), int(cy + d[1]))
        cv2.line(image, p0, p1, 255, 1, cv2.LINE_AA)
    return image.astype(np.float64)


def _wood(size, period, turbulence, seed):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    warp = _noise(size, 12.0, seed)
    warp = warp / np.abs(warp).max()
    r = np.hypot(x - 0.3 * size, (y - size / 2) * 0.15) + turbulence * warp
    return np.sin(2 * np.pi * r / period)


def _diamonds(size, cell):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u = np.abs((x % cell) - cell / 2) + np.abs((y % cell) - cell / 2)
    return u < cell / 4


def _maze(size, scale, seed):
    """A labyrinth: thresholded band-pass noise (difference of Gaussians)."""
    white = np.random.default_rng(seed).standard_normal((size, size))
    band = ndimage.gaussian_filter(white, scale, mode='wrap') - \
        ndimage.gaussian_filter(white, 2 * scale, mode='wrap')
    return band > 0


_FAMILIES = dict(
    grating=_grating, checker=_checker, dots=_dots, random_dots=_random_dots, rings=_rings,
    bricks=_bricks, grid=_grid, crosshatch=_crosshatch, plaid=_plaid, noise=_noise,
    fractal=_fractal, voronoi=_voronoi, zigzag=_zigzag, waves=_waves,
    honeycomb=_honeycomb, hatching=_hatching, wood=_wood, diamonds=_diamonds, maze=_maze)


def normalise_texture(texture, contrast=0.2):
    """Texture as float32 in [0, 1] with mean 0.5 and standard deviation ``contrast``
    (clipped to [0, 1]); a constant image becomes flat 0.5."""
    t = np.asarray(texture, np.float64)
    std = t.std()
    t = (t - t.mean()) / std * contrast if std > 0 else np.zeros_like(t)
    return np.clip(t + 0.5, 0, 1).astype(np.float32)


def _unit(texture):
    t = np.asarray(texture, np.float64)
    lo, hi = t.min(), t.max()
    return ((t - lo) / (hi - lo) if hi > lo else np.full_like(t, 0.5)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def procedural_textures(size=512, normalise=True, contrast=0.2):
    """The 25 procedural textures of :data:`TEXTURES`.

    Args:
        size (int): side length (the paper's textures are >= 400; default 512).
        normalise (bool): equal mean (0.5) and standard deviation (``contrast``) for all
            textures (default); otherwise each is stretched to [0, 1].
        contrast (float): standard deviation after normalisation (grey levels in [0, 1]).

    Returns:
        tuple[tuple[str, ...], tuple[np.ndarray, ...]]: names and (size, size) float32 images
        in [0, 1] (read-only; shared between callers).
    """
    if size < 64:
        raise ValueError(f'texture size must be at least 64 pixels, got {size}')
    names, images = [], []
    for name, family, params in TEXTURES:
        raw = _FAMILIES[family](size, **params).astype(np.float64)
        image = normalise_texture(raw, contrast) if normalise else _unit(raw)
        image.setflags(write=False)
        names.append(name)
        images.append(image)
    return tuple(names), tuple(images)


def load_textures(folder, normalise=True, contrast=0.2, min_size=64):
    """Texture images (any of :data:`IMAGE_SUFFIXES`, read as grey) from ``folder``, sorted by
    file name; each must be at least ``min_size`` on both sides.

    Returns:
        tuple[tuple[str, ...], tuple[np.ndarray, ...]]: file stems and float32 images in [0, 1].
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'texture folder {folder!r} does not exist (--texture-dir)')
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise ValueError(f'{folder} holds no texture images ({", ".join(IMAGE_SUFFIXES)})')
    names, images = [], []
    for name in files:
        image = cv2.imread(osp.join(folder, name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f'{osp.join(folder, name)} cannot be read as an image')
        if min(image.shape) < min_size:
            raise ValueError(f'{osp.join(folder, name)} is {image.shape[1]}x{image.shape[0]}; '
                             f'textures must be at least {min_size}x{min_size} (the paper uses '
                             '>= 400x400)')
        image = normalise_texture(image, contrast) if normalise else image.astype(np.float32) / 255
        image.setflags(write=False)
        names.append(osp.splitext(name)[0])
        images.append(image)
    return tuple(names), tuple(images)


def random_crop(texture, shape, rng):
    """A crop of ``shape`` (h, w) at a uniformly random position of ``texture`` (H, W)."""
    h, w = shape
    if texture.shape[0] < h or texture.shape[1] < w:
        raise ValueError(f'texture {texture.shape} is smaller than the crop {shape}')
    y = int(rng.integers(0, texture.shape[0] - h + 1))
    x = int(rng.integers(0, texture.shape[1] - w + 1))
    return texture[y:y + h, x:x + w]
