"""Two models side by side on a video (or image folder) whose segments get successive corruptions.

    python tools/robustness/demo_video.py SOURCE --models CFG_A CKPT_A CFG_B CKPT_B \
        [--labels softmax SCrIBE] [--corruptions gaussian_noise,fog,motion_blur] [--severity 3]
        --out demo.mp4
"""
import argparse

from mmseg_bias.apis import init_segmentor
from mmseg_bias.datasets.transforms import resolve_corruptions
from mmseg_bias.visualization.video import (corruption_schedule, read_frames, render_demo,
                                            write_video)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('source', help='video file or folder of frames')
    parser.add_argument('--models', nargs='+', required=True, metavar='CFG CKPT',
                        help='pairs of config and checkpoint')
    parser.add_argument('--labels', nargs='+')
    parser.add_argument('--corruptions', default='gaussian_noise,motion_blur,fog,contrast')
    parser.add_argument('--severity', type=int, default=3)
    parser.add_argument('--max-frames', type=int)
    parser.add_argument('--fps', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', required=True, help='.mp4 path (a .gif is written without codec)')
    args = parser.parse_args(argv)
    if len(args.models) % 2:
        parser.error('--models takes config and checkpoint pairs')
    pairs = list(zip(args.models[::2], args.models[1::2]))
    labels = args.labels or [f'model {i + 1}' for i in range(len(pairs))]
    if len(labels) != len(pairs):
        parser.error(f'--labels needs one label per model ({len(pairs)})')
    if args.severity not in range(1, 6):
        parser.error('--severity must lie in 1-5')
    models = [init_segmentor(cfg, ckpt, device=args.device) for cfg, ckpt in pairs]
    frames = read_frames(args.source, args.max_frames)
    schedule = corruption_schedule(len(frames), resolve_corruptions(args.corruptions),
                                   args.severity)
    written = write_video(render_demo(models, labels, frames, schedule), args.out, args.fps)
    print(f'\nwrote {written} ({len(frames)} frames)')


if __name__ == '__main__':
    main()
