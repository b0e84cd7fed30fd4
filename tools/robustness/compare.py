"""Compare the robustness results of several models (folders written by tools/test_robustness.py).

    python tools/robustness/compare.py DIR [DIR ...] [--labels A B ...] --out FIG_DIR
"""
import argparse
import os.path as osp

from mmseg_bias.utils import dump_json, load_json
from mmseg_bias.visualization.robustness_figures import (plot_robustness_comparison,
                                                         plot_severity_curves)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', nargs='+', help='output folders of tools/test_robustness.py')
    parser.add_argument('--labels', nargs='+', help='one label per folder (default: folder names)')
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(r)) for r in args.results]
    if len(labels) != len(args.results):
        parser.error(f'--labels needs one label per results folder ({len(args.results)})')
    summaries = {}
    for label, folder in zip(labels, args.results):
        path = osp.join(folder, 'summary.json')
        if not osp.isfile(path):
            parser.error(f'{folder} has no summary.json; run tools/test_robustness.py --out {folder}')
        summaries[label] = load_json(path)
    plot_severity_curves(summaries, osp.join(args.out, 'miou_vs_severity.png'))
    plot_robustness_comparison(summaries, osp.join(args.out, 'comparison.png'))
    dump_json({k: {m: s[m] for m in ('P', 'mPC', 'rPC')} for k, s in summaries.items()},
              osp.join(args.out, 'comparison.json'))
    for label, s in summaries.items():
        print(f"{label}: P {s['P']}  mPC {s['mPC']}  rPC {s['rPC']}")


if __name__ == '__main__':
    main()
