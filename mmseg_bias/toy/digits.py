"""Digit shapes for Texture-MNIST: real MNIST from IDX files, or rendered handwriting-like digits.

Both sources give 28x28 uint8 grey images (white digit on black, MNIST's normalisation: the digit
fits a 20x20 box centred by its centre of mass) and integer labels 0-9; the generator turns each
into a 64x64 binary mask exactly as the paper does with MNIST (bilinear resize, threshold 0.5).

- :func:`load_mnist` reads the standard IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
  optionally ``.gz``, the dot variants ``train-images.idx3-ubyte`` too) from a local folder.
- :func:`render_digits` needs no download. Each digit is drawn from one of the glyph styles of
  :func:`glyph_styles` — the TrueType faces shipped with matplotlib that have digits (DejaVu Sans,
  Sans Mono, Serif with their bold / oblique cuts, STIX General, Computer Modern roman, bold,
  sans, typewriter, italic and math italic, whose digits are old-style) and OpenCV's eight
  Hershey stroke fonts, upright and italic — then deformed: stroke width (dilation / erosion of
  the TrueType bitmap, line thickness of the Hershey strokes), a random affine map (rotation,
  shear, anisotropic scale) and an elastic distortion (Simard et al. 2003: a smoothed random
  displacement field). Parameters are :data:`RENDER_DEFAULTS`. The result is deterministic for a
  seed (one :class:`numpy.random.Generator` per digit) and varied enough that a model has to
  learn shapes: no two samples share a bitmap.
"""
import functools
import gzip
import os.path as osp
import struct

import cv2
import numpy as np

__all__ = ['read_idx', 'find_mnist_files', 'load_mnist', 'glyph_styles', 'render_digit',
           'render_digits', 'mnist_normalise', 'RENDER_DEFAULTS', 'SPLITS']

SPLITS = {'train': 'train', 'test': 't10k'}
_IDX_TYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}

# Deformation parameters of the rendered digits, at the 96x96 drawing canvas (a glyph about 64
# pixels tall). Elastic: sigma and alpha scale Simard et al.'s 28-pixel values (4, 34) by 96/28,
# alpha reduced by a third so that thin strokes stay connected.
RENDER_DEFAULTS = dict(
    canvas=96,          # drawing canvas (pixels)
    rotation=12.0,      # std of the rotation, degrees (clipped at 2 std)
    shear=0.2,          # horizontal shear, uniform in [-shear, shear]
    scale=(0.8, 1.15),  # x and y scale, each uniform in this range
    stroke=(-2, 4),     # TrueType: dilation (+) / erosion (-) radius in canvas pixels, uniform int
    thickness=(3, 9),   # Hershey: line thickness in canvas pixels, uniform int
    elastic_sigma=13.7,  # smoothing of the displacement field (canvas pixels)
    elastic_alpha=75.0,  # displacement scale (canvas pixels)
)


def read_idx(path):
    """Read an IDX file (MNIST's format; ``.gz`` is decompressed).

    Returns:
        np.ndarray: the array in native byte order, e.g. (N, 28, 28) uint8 images or (N,) labels.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'IDX file {path!r} does not exist')
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f'{path} is not an IDX file (its first bytes should be 0, 0, a type code '
                         f'in {sorted(_IDX_TYPES)} and the number of dimensions)')
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f'>{ndim}I', data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f'{path} is truncated or padded: its header says {shape} '
                         f'({expected} bytes) but the file has {len(data)} bytes')
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder('='))


def find_mnist_files(root, split):
    """(images, labels) IDX paths of MNIST ``split`` ('train' or 'test') under ``root``."""
    if split not in SPLITS:
        raise ValueError(f'MNIST split must be one of {sorted(SPLITS)}, got {split!r}')
    found = []
    for kind, rank in (('images', 3), ('labels', 1)):
        names = [f'{SPLITS[split]}-{kind}{sep}idx{rank}-ubyte{gz}'
                 for sep in ('-', '.') for gz in ('', '.gz')]
        paths = [osp.join(root, n) for n in names if osp.isfile(osp.join(root, n))]
        if not paths:
            raise FileNotFoundError(f'no MNIST {split} {kind} in {root!r}: expected one of '
                                    f'{names[0]}, {names[1]} (--mnist-root must hold the IDX '
                                    'files as distributed by LeCun et al.)')
        found.append(paths[0])
    return tuple(found)


def load_mnist(root, split):
    """MNIST ``split`` from IDX files under ``root``.

    Returns:
        tuple[np.ndarray, np.ndarray]: images (N, 28, 28) uint8 and labels (N,) int64.
    """
    images_path, labels_path = find_mnist_files(root, split)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f'{images_path} / {labels_path}: expected (N, H, W) images and (N,) '
                         f'labels, got {images.shape} and {labels.shape}')
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f'{labels_path}: labels must be digits 0-9')
    return images.astype(np.uint8), labels.astype(np.int64)


def _ttf_fonts():
    import matplotlib
    folder = osp.join(matplotlib.get_data_path(), 'fonts', 'ttf')
    names = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf',
             'DejaVuSans-BoldOblique.ttf', 'DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf',
             'DejaVuSansMono-Oblique.ttf', 'DejaVuSansMono-BoldOblique.ttf', 'DejaVuSerif.ttf',
             'DejaVuSerif-Bold.ttf', 'DejaVuSerif-Italic.ttf', 'DejaVuSerif-BoldItalic.ttf',
             'STIXGeneral.ttf', 'STIXGeneralBol.ttf', 'STIXGeneralItalic.ttf',
             'STIXGeneralBolIta.ttf', 'cmr10.ttf', 'cmb10.ttf', 'cmss10.ttf', 'cmtt10.ttf',
             'cmti10.ttf', 'cmmi10.ttf']
    return [osp.join(folder, n) for n in names if osp.isfile(osp.join(folder, n))]


_HERSHEY = ('SIMPLEX', 'PLAIN', 'DUPLEX', 'COMPLEX', 'TRIPLEX', 'COMPLEX_SMALL', 'SCRIPT_SIMPLEX',
            'SCRIPT_COMPLEX')


@functools.lru_cache(maxsize=None)
def glyph_styles():
    """The glyph styles of :func:`render_digits`, in a fixed order: ``('ttf', path)`` for each
    matplotlib TrueType face found, then ``('hershey', name, italic)`` for OpenCV's fonts."""
    styles = [('ttf', path) for path in _ttf_fonts()]
    styles += [('hershey', name, italic) for name in _HERSHEY for italic in (False, True)]
    return tuple(styles)


@functools.lru_cache(maxsize=64)
def _font(path, size):
    from PIL import ImageFont
    return ImageFont.truetype(path, size)


def _draw(style, digit, canvas, rng, params):
    """White ``digit`` on a black (canvas, canvas) uint8 image in ``style``, stroke varied."""
    image = np.zeros((canvas, canvas), np.uint8)
    text = str(int(digit))
    if style[0] == 'ttf':
        from PIL import Image, ImageDraw
        pil = Image.fromarray(image)
        ImageDraw.Draw(pil).text((canvas / 2, canvas / 2), text, fill=255,
                                 font=_font(style[1], int(canvas * 0.7)), anchor='mm')
        image = np.asarray(pil).copy()
        radius = int(rng.integers(params['stroke'][0], params['stroke'][1] + 1))
        if radius:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
            eroded = cv2.erode(image, kernel)
            # an erosion that would delete the glyph's thin parts is skipped
            image = cv2.dilate(image, kernel) if radius > 0 else (
                eroded if (eroded > 127).sum() > 0.5 * (image > 127).sum() else image)
        return image
    font = getattr(cv2, f'FONT_HERSHEY_{style[1]}') | (cv2.FONT_ITALIC if style[2] else 0)
    thickness = int(rng.integers(params['thickness'][0], params['thickness'][1] + 1))
    (w, h), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = 0.62 * canvas / max(h, 1)
    (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    cv2.putText(image, text, ((canvas - w) // 2, (canvas + h) // 2), font, scale, 255,
                thickness, cv2.LINE_AA)
    return image


def _deform(image, rng, params):
    """Random affine map then elastic distortion (bilinear), same size."""
    size = image.shape[0]
    angle = float(np.clip(rng.normal(0, params['rotation']), -2 * params['rotation'],
                          2 * params['rotation']))
    shear = float(rng.uniform(-params['shear'], params['shear']))
    sx, sy = rng.uniform(*params['scale'], size=2)
    theta = np.deg2rad(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    linear = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    centre = np.array([size / 2, size / 2])
    affine = np.hstack([linear, (centre - linear @ centre)[:, None]])
    image = cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR,
                           borderValue=0)
    sigma, alpha = params['elastic_sigma'], params['elastic_alpha']
    dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0),
                               sigma) * alpha for _ in range(2))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return cv2.remap(image, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)


def mnist_normalise(image, box=20, size=28):
    """MNIST's normalisation of a grey glyph: crop to its bounding box, resize to fit ``box``
    (aspect kept, area averaging), centre by centre of mass in a (size, size) uint8 image."""
    ys, xs = np.nonzero(image > 20)
    if len(ys) == 0:
        return np.zeros((size, size), np.uint8)
    crop = image[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32)
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    total = crop.sum()
    cy = (crop.sum(1) * np.arange(h)).sum() / total
    cx = (crop.sum(0) * np.arange(w)).sum() / total
    y0 = int(np.clip(round(size / 2 - cy), 0, size - h))
    x0 = int(np.clip(round(size / 2 - cx), 0, size - w))
    out = np.zeros((size, size), np.float32)
    out[y0:y0 + h, x0:x0 + w] = crop
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_digit(digit, rng, **params):
    """One rendered digit: a random style of :func:`glyph_styles`, deformed.

    Args:
        digit (int): 0-9.
        rng (np.random.Generator): randomness source.
        **params: overrides of :data:`RENDER_DEFAULTS`.

    Returns:
        np.ndarray: (28, 28) uint8, MNIST-normalised.
    """
    params = {**RENDER_DEFAULTS, **params}
    styles = glyph_styles()
    style = styles[int(rng.integers(len(styles)))]
    image = _draw(style, digit, params['canvas'], rng, params)
    return mnist_normalise(_deform(image, rng, params))


def render_digits(labels, seed, **params):
    """Render one digit per label; digit i uses the generator seeded with ``(seed, i)``.

    Returns:
        np.ndarray: (N, 28, 28) uint8.
    """
    return np.stack([render_digit(d, np.random.default_rng([seed, i]), **params)
                     for i, d in enumerate(labels)]) if len(labels) else np.zeros((0, 28, 28),
                                                                                   np.uint8)
