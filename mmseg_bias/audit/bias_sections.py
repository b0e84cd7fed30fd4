"""Audit sections of the DropClass bias analyses: class frequency, IoU by frequency, bias
vulnerability and classifier similarity (``mmseg_bias.analysis``)."""
import os.path as osp

import numpy as np

from mmseg_bias.analysis.bias_vulnerability import (bias_vulnerability, cached_evaluator,
                                                    erasure_evaluator, safe_name,
                                                    save_bias_vulnerability)
from mmseg_bias.analysis.class_frequency import frequency_order
from mmseg_bias.analysis.classifier_similarity import (classifier_similarity, classifier_weight,
                                                       save_classifier_similarity)
from mmseg_bias.analysis.iou_by_frequency import iou_by_frequency, save_iou_by_frequency
from mmseg_bias.visualization.bias_figures import (plot_erasure_test, plot_influence_matrix,
                                                   plot_iou_by_frequency, plot_similarity_matrix,
                                                   plot_similarity_vs_frequency)

from .blocks import Section, image, notice, table

__all__ = ['FREQUENCY', 'IOU', 'VULNERABILITY', 'SIMILARITY']


def run_frequency(audit):
    freq = audit.frequency()
    folder = audit.cache.folder('frequency')
    order = frequency_order(freq, audit.options.by)
    rows = [[freq['classes'][i], freq['pixel_freq'][i], freq['instance_freq'][i],
             freq['image_count'][i]] for i in order]
    blocks = [image(osp.join(folder, 'class_frequency.png'),
                    f'{audit.options.by} frequency on the {freq["split"]} split '
                    f'({freq["num_images"]} images), log scale'),
              table(['class', 'pixels %', 'images %', 'images'], rows,
                    'rarest first', digits=3)]
    return blocks, {}, {}


def run_iou(audit):
    o = audit.options
    freq = audit.frequency()
    results = {name: audit.clean_metrics(name) for name in audit.names}
    result = iou_by_frequency(results, freq, by=o.by, num_rare=o.num_rare)
    folder = audit.section_dir('iou')
    save_iou_by_frequency(result, folder)
    plot_iou_by_frequency(result, osp.join(folder, 'iou_by_frequency.png'))
    header = ['row'] + [c + ('†' if r else '') for c, r in zip(result['classes'], result['rare'])]
    rows = [[f'{result["by"]} freq %'] + list(result['frequency']) + [None, None]]
    for name, m in result['models'].items():
        rows.append([name] + m['iou'] + [m['mIoU'], m['mIoU_rare']])
        if name in result['deltas']:
            d = result['deltas'][name]
            rows.append([f'Δ {name} − {result["reference"]}'] + d['delta']
                        + [d['mIoU'], d['mIoU_rare']])
    blocks = [image(osp.join(folder, 'iou_by_frequency.png'),
                    'IoU per class, rarest left; dotted: class frequency (right axis)'),
              table(header + ['mIoU', 'mIoU†'], rows,
                    f'IoU in %; † = the {result["num_rare"]} rarest classes (mIoU†)', digits=1)]
    summary = {name: {'mIoU': m['mIoU'], 'mIoU†': m['mIoU_rare']}
               for name, m in result['models'].items()}
    return blocks, {}, summary


def _vulnerability_evaluators(audit):
    """Per model: clean from the shared evaluation, erased images from cached evaluations."""
    o = audit.options
    evaluators = {}
    for name in audit.names:
        settings = dict(audit.fingerprint(name), fill=o.fill, value=o.fill_value)
        erased_fn = cached_evaluator(
            erasure_evaluator(audit.segmentor(name), fill=o.fill, value=o.fill_value),
            audit.cache.folder('erasure', name), settings)

        def evaluate_fn(erased, name=name, erased_fn=erased_fn):
            return audit.clean_metrics(name) if not erased else erased_fn(erased)
        evaluators[name] = evaluate_fn
    return evaluators


def run_vulnerability(audit):
    o = audit.options
    settings = dict(models=[audit.fingerprint(n) for n in audit.names], score=o.score,
                    erase=o.erase, top_k=o.top_k, num_vulnerable=o.num_vulnerable, fill=o.fill,
                    fill_value=o.fill_value, matrix_classes=o.matrix_classes)

    def compute(folder):
        result = bias_vulnerability(_vulnerability_evaluators(audit), audit.classes,
                                    score=o.score, erase=o.erase, top_k=o.top_k,
                                    num_vulnerable=o.num_vulnerable,
                                    matrix_classes=o.matrix_classes)
        save_bias_vulnerability(result, folder)
        for name, matrix in result['matrices'].items():
            plot_influence_matrix(matrix, osp.join(folder, f'influence_{safe_name(name)}.png'),
                                  title=f'{name}: influence of erasing a class ({o.score})')
        plot_erasure_test(result['test'], osp.join(folder, 'erasure_test.png'))
        return result
    result = audit.cache.run('vulnerability', settings, compute)
    folder = audit.cache.folder('vulnerability')
    test = result['test']
    erased = result['erased']
    erased_text = (', '.join(erased) if isinstance(erased, list)
                   else "each class's Top-%d influencers" % result['top_k'])
    rows = [[name, e['mIoU_I'], e['mIoU_I*'], e['mIoU_delta'], e['mIoU*_I'], e['mIoU*_I*'],
             e['mIoU*_delta']] for name, e in test['models'].items()]
    blocks = [table(['model', 'mIoU (I)', 'mIoU (I*)', 'Δ', 'mIoU* (I)', 'mIoU* (I*)', 'Δ*'], rows,
                    f'I* = test images with {erased_text} erased (fill: {o.fill}); mIoU* over the '
                    f'{len(test["vulnerable"])} most vulnerable classes of {test["reference"]}',
                    digits=1),
              image(osp.join(folder, 'erasure_test.png'),
                    'Δ IoU = I* − I per class, most vulnerable first')]
    columns = {}
    for name in audit.names:
        top = result['top'].get(name, [])
        k = result['top_k']
        top_rows = [[t['class']] + [f'{c} ({s:.1f})' for c, s in t['top']]
                    + [''] * (k - len(t['top'])) for t in top]
        columns[name] = [image(osp.join(folder, f'influence_{safe_name(name)}.png'),
                               'rows: affected class, columns: erased class'),
                         table(['class'] + [f'top {i + 1}' for i in range(k)], top_rows,
                               f'Top-{k} most influential classes (IoU drop when erased)')]
    summary = {name: {'Δ mIoU* (I*−I)': e['mIoU*_delta']} for name, e in test['models'].items()}
    return blocks, columns, summary


def _without_class(freq, index):
    """``freq`` without class ``index`` (its per-class lists shortened)."""
    k = len(freq['classes'])
    return {key: [v for i, v in enumerate(value) if i != index]
            if isinstance(value, (list, tuple)) and len(value) == k else value
            for key, value in freq.items()}


def _similarity(model, freq, by):
    """Classifier similarity of ``model``; a head with implicit background (IBE / SCrIBE: K − 1
    classifier rows) is compared on its foreground classes."""
    weight = classifier_weight(model)
    index = getattr(model.decode_head, 'background_index', None)
    if index is not None and len(weight) == len(freq['classes']) - 1:
        result = classifier_similarity(weight, _without_class(freq, index), by=by)
        return dict(result, implicit_background=freq['classes'][index])
    return classifier_similarity(weight, freq, by=by)


def run_similarity(audit):
    o = audit.options
    freq = audit.frequency()
    columns, summary, rows = {}, {}, []
    for name in audit.names:
        def compute(folder, name=name):
            try:
                result = _similarity(audit.segmentor(name), freq, o.by)
            except (TypeError, ValueError) as error:
                return dict(unavailable=str(error))
            save_classifier_similarity(result, folder)
            plot_similarity_matrix(result, osp.join(folder, 'similarity_matrix.png'))
            plot_similarity_vs_frequency(result, osp.join(folder, 'similarity_vs_frequency.png'))
            return result
        settings = dict(audit.fingerprint(name), classes=freq['classes'], by=o.by,
                        frequency=[freq['pixel_freq'], freq['instance_freq']])
        result = audit.cache.run('similarity', settings, compute, model=name)
        if 'unavailable' in result:
            columns[name] = [notice(f'not applicable to this model: {result["unavailable"]}')]
            continue
        folder = audit.cache.folder('similarity', name)
        columns[name] = [notice(f'implicit background: the classifier has no '
                                f'{result["implicit_background"]} row, so only the foreground '
                                'classes are compared')] if 'implicit_background' in result else []
        columns[name] += [image(osp.join(folder, 'similarity_matrix.png'),
                                'cos(w_i, w_j), rarest class first'),
                          image(osp.join(folder, 'similarity_vs_frequency.png'),
                                'mean similarity to the other classes vs frequency')]
        most, rarest = int(np.argmax(result['frequency'])), int(np.argmin(result['frequency']))
        rows.append([name, result['spearman'], result['classes'][rarest],
                     result['mean_similarity'][rarest], result['classes'][most],
                     result['mean_similarity'][most]])
        summary[name] = {'similarity ρ': result['spearman']}
    blocks = [table(['model', 'Spearman ρ (freq vs mean sim.)', 'rarest class', 'its mean sim.',
                     'most frequent class', 'its mean sim.'], rows, digits=3)] if rows else []
    return blocks, columns, summary


FREQUENCY = Section(
    'frequency', 'Class frequency',
    'How often each class occurs in the training labels (share of labelled pixels and of images '
    'containing it), rarest first: the imbalance the models learned from, and the order the '
    'next sections sort classes by.', run_frequency)
IOU = Section(
    'iou', 'Per-class IoU by class frequency (mIoU†)',
    'Per-class IoU of each model with classes ordered from rarest to most frequent, and mIoU† '
    'over the rarest half (†, shaded): a frequency-biased model falls off on the left, and the '
    'Δ rows show what each model gains over the first one.', run_iou)
VULNERABILITY = Section(
    'vulnerability', 'Bias vulnerability (influence, Top-3, I vs I*)',
    'How much each class loses when another class is erased from the test images (heatmap rows: '
    'affected class, columns: erased class; red = erasing it hurts), each class\'s Top-3 '
    'influencers, and IoU on the clean images I vs the erased images I*: a model that leans on '
    'co-occurring classes loses more on I* (negative Δ).', run_vulnerability)
SIMILARITY = Section(
    'similarity', 'Classifier weight similarity',
    'Cosine similarity between the classifier\'s class weight vectors, rarest class first: in a '
    'frequency-biased model the rare classes resemble many others while the most frequent class '
    'stands apart, so ρ (frequency vs mean similarity) is negative.', run_similarity)
