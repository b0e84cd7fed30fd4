"""Side-by-side corruption demo: two models on a frame sequence whose segments get successive
corruptions, written as mp4 (or GIF when OpenCV has no mp4 codec)."""
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

from ..datasets.transforms.corruption import ImageCorruption

__all__ = ['read_frames', 'corruption_schedule', 'render_demo', 'write_video']

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp')


def read_frames(source, max_frames=None):
    """BGR uint8 frames from a video file or a folder of images (sorted by name)."""
    if osp.isdir(source):
        names = sorted(f for f in os.listdir(source) if f.lower().endswith(IMAGE_EXTS))
        frames = [cv2.imread(osp.join(source, f)) for f in names[:max_frames]]
    elif osp.isfile(source):
        capture, frames = cv2.VideoCapture(source), []
        while max_frames is None or len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
    else:
        raise FileNotFoundError(f'{source} is neither a video file nor a folder of images')
    if not frames:
        raise ValueError(f'no frames could be read from {source}')
    return frames


def corruption_schedule(num_frames, corruptions, severity):
    """(corruption or None, severity) per frame: a clean segment, then one segment per corruption."""
    segments = [None] + list(corruptions)
    length = max(1, num_frames // len(segments))
    return [(segments[min(i // length, len(segments) - 1)], severity) for i in range(num_frames)]


def _overlay(image, pred, palette, alpha=0.5):
    colours = np.asarray(palette, dtype=np.uint8)[pred][..., ::-1]  # palette is RGB
    return cv2.addWeighted(image, 1 - alpha, colours, alpha, 0)


def _caption(panel, text):
    cv2.rectangle(panel, (0, 0), (panel.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(panel, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return panel


def render_demo(models, labels, frames, schedule, seed=0):
    """Yield one side-by-side frame per input frame: corrupted input | each model's prediction.

    Args:
        models (list[nn.Module]): segmentors from ``mmseg_bias.apis.init_segmentor``.
        labels (list[str]): one caption per model.
        frames (list[np.ndarray]): BGR uint8 frames.
        schedule (list[tuple]): from :func:`corruption_schedule`.
    """
    from mmseg.apis import inference_model
    palette = models[0].dataset_meta['palette']
    bar = ProgressBar(len(frames))
    for index, (frame, (corruption, severity)) in enumerate(zip(frames, schedule)):
        if corruption is not None:
            frame = ImageCorruption(corruption, severity, seed).corrupt(frame, f'frame{index}')
        title = 'clean' if corruption is None else f'{corruption} s{severity}'
        panels = [_caption(frame.copy(), title)]
        for model, label in zip(models, labels):
            pred = inference_model(model, frame).pred_sem_seg.data[0].cpu().numpy()
            panels.append(_caption(_overlay(frame, pred, palette), label))
        bar.update()
        yield np.concatenate(panels, axis=1)


def write_video(frames, path, fps=5):
    """Write BGR frames to ``path`` (.mp4); falls back to a GIF beside it without an mp4 codec.

    Returns:
        str: the file written.
    """
    frames = list(frames)
    h, w = frames[0].shape[:2]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{osp.splitext(path)[1]}'
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if writer.isOpened():
        for frame in frames:
            writer.write(frame)
        writer.release()
        os.replace(tmp, path)
        return path
    gif = osp.splitext(path)[0] + '.gif'
    images = [Image.fromarray(f[..., ::-1]) for f in frames]
    images[0].save(gif + '.tmp.gif', save_all=True, append_images=images[1:],
                   duration=int(1000 / fps), loop=0)
    os.replace(gif + '.tmp.gif', gif)
    return gif
