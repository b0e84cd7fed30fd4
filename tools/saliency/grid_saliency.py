"""Context explanations of an MMSeg model: grid saliency, or the VG / IG / SG gradient baselines.

    python tools/saliency/grid_saliency.py CONFIG CHECKPOINT (--img IMG [IMG ...] | --dataset-split val)
        --out DIR [--method grid|vg|ig|sg] [--classes car person ...]
        [--requests pred|gt|intersection] [--errors-only] [--per class|component] [--min-size PX]
        [--grid-size 4 | H W] [--upsample bilinear|nearest] [--perturbation constant|blur]
        [--lam 0.05] [--lr 0.2] [--momentum 0.5] [--steps 100] [--init 0.5] [--clip 0.2]
        [--no-erode] [--plain] [--validity-threshold 0.1] [--batch-size 16] [--max-images N]
        [--no-overlays] [--device cpu] [--cfg-options KEY=VALUE ...] [--launcher pytorch]

Per image: DIR/maps/<name>.npz (saliency maps, request masks, classes, prediction, ground truth,
image), DIR/records/<name>.json (requests and their diagnostics) and DIR/overlays/<name>_<j>_<class>.png
(image, request, saliency heat); then DIR/diagnostics.json with every request's diagnostics. A
rerun with the same settings skips the images already done. Launched with torchrun and
``--launcher pytorch``, the images are shared among the processes (CPU processes on gloo without
CUDA).
"""
import argparse
import os.path as osp

from mmseg_bias.saliency.explain import (add_explain_arguments, load_record, prepare_explain,
                                         run_explain)
from mmseg_bias.visualization.saliency_figures import save_saliency_overlays


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config (or mmseg::<path>)')
    parser.add_argument('checkpoint', help='checkpoint')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--img', nargs='+', help='image files (requests from the prediction)')
    source.add_argument('--dataset-split', choices=['train', 'val', 'test'],
                        help="explain the config's dataset split")
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--no-overlays', action='store_true', help='skip the overlay PNGs')
    add_explain_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    job = prepare_explain(args)

    def draw(name, record):
        if record['requests'] and not args.no_overlays:
            save_saliency_overlays(load_record(args.out, name), osp.join(args.out, 'overlays'),
                                   job['classes'])

    merged = run_explain(job, args.out, on_record=draw)
    if merged is None:
        return
    print(f"{merged['num_images']} images, {merged['num_requests']} requests, "
          f"{merged['num_valid']} valid and non-empty; written to {args.out}")


if __name__ == '__main__':
    main()
