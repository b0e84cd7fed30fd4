"""Run the audit's sections on a set of models and write the HTML report.

Each section composes the library's analyses (``mmseg_bias.analysis``, ``.evaluation``,
``.saliency``) through the cached stages of :class:`~mmseg_bias.audit.context.Audit`; a section
whose library part is missing in this installation that does not apply (e.g. CBD / CBL without a
planted bias) is reported as not available, one that fails is reported with its error while the
others still run.
"""
import datetime
import os.path as osp
import time
import traceback
from collections import OrderedDict

from mmengine.logging import print_log

from mmseg_bias.utils import dump_json
from mmseg_bias.visualization.report import render_report

from .bias_sections import FREQUENCY, IOU, SIMILARITY, VULNERABILITY
from .blocks import Unavailable
from .context import Audit
from .context_sections import CONTEXT_BIAS, SALIENCY
from .robustness_sections import LOGITS, ROBUSTNESS

__all__ = ['SECTIONS', 'resolve_sections', 'run_audit']

SECTIONS = OrderedDict((s.key, s) for s in (FREQUENCY, IOU, VULNERABILITY, SIMILARITY, ROBUSTNESS,
                                            LOGITS, SALIENCY, CONTEXT_BIAS))


def resolve_sections(keys=None):
    """Section keys in report order from ``keys`` (None or 'all' = every section)."""
    if keys is None or list(keys) == ['all']:
        return list(SECTIONS)
    unknown = [k for k in keys if k not in SECTIONS]
    if unknown:
        raise ValueError(f'unknown section(s) {unknown}; choose among {", ".join(SECTIONS)}')
    return [k for k in SECTIONS if k in set(keys)]


def _run_section(section, audit):
    """A report section dict and its per-model summary entries."""
    out = dict(key=section.key, title=section.title, description=section.description,
               status='ok', note='', blocks=[], columns={})
    try:
        blocks, columns, summary = section.run(audit)
    except Unavailable as error:
        out.update(status='unavailable', note=str(error))
        return out, {}
    except Exception as error:  # one failing analysis must not lose the others' results
        print_log(f'[audit] section {section.key} failed:\n{traceback.format_exc()}',
                  logger='current')
        out.update(status='failed', note=f'{type(error).__name__}: {error}')
        return out, {}
    out.update(blocks=blocks, columns=columns)
    return out, summary


def _meta(audit, sections, timings):
    o = audit.options
    dataset = audit.config(audit.reference).test_dataloader.dataset
    meta = [('dataset', f'{dataset.get("type")} at {dataset.get("data_root", "")}'),
            ('evaluated on', f'{o.split} split' + (f', first {o.max_images} images'
                                                  if o.max_images else '')),
            ('classes', ', '.join(audit.classes)),
            ('sections', ', '.join(s['title'] for s in sections)),
            ('times (s)', ', '.join(f'{k} {v:.1f}' for k, v in timings.items())),
            ('written', datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))]
    return meta


def run_audit(models, work_dir, options=None, sections=None, title='Bias audit', timings=None,
              embed=True):
    """Audit ``models`` and write ``work_dir/report.html``.

    Args:
        models (Sequence[AuditModel]): the models, reference first.
        work_dir (str): stage cache, figures, ``report.html`` and ``timings.json``.
        options (AuditOptions, optional): audit options.
        sections (Sequence[str], optional): section keys to run (default all, see
            :data:`SECTIONS`).
        title (str): report title.
        timings (dict, optional): seconds of earlier steps (e.g. training), reported first.
        embed (bool): embed figures in the HTML (self-contained) or link them.

    Returns:
        dict: ``report`` (path), ``status`` {section: 'ok' | 'unavailable' | 'failed'},
        ``timings`` {step: seconds}, ``total_s``, ``cache`` (stage records: what was reused).
    """
    keys = resolve_sections(sections)
    audit = Audit(models, work_dir, options)
    timings = dict(timings or {})
    rendered, summaries = [], OrderedDict()
    for i, key in enumerate(keys):
        section = SECTIONS[key]
        print_log(f'[audit] ({i + 1}/{len(keys)}) {section.title}', logger='current')
        t0 = time.perf_counter()
        out, summary = _run_section(section, audit)
        timings[f'audit:{key}'] = time.perf_counter() - t0
        print_log(f'[audit] ({i + 1}/{len(keys)}) {section.title}: {out["status"]} in '
                  f'{timings[f"audit:{key}"]:.1f} s', logger='current')
        rendered.append(out)
        for name, values in summary.items():
            summaries.setdefault(name, OrderedDict()).update(values)
    columns = list(dict.fromkeys(c for values in summaries.values() for c in values))
    report = dict(
        title=title,
        subtitle=f'{len(audit.names)} model(s): {", ".join(audit.names)}; first = reference',
        meta=_meta(audit, rendered, timings),
        models=[dict(name=n, config=audit.models[n].config, checkpoint=audit.models[n].checkpoint)
                for n in audit.names],
        summary=dict(header=['model'] + columns,
                     rows=[[n] + [summaries.get(n, {}).get(c) for c in columns]
                           for n in audit.names]) if columns else None,
        sections=rendered)
    path = render_report(report, osp.join(work_dir, 'report.html'), embed=embed)
    total = sum(timings.values())
    dump_json(dict(total_s=total, stages=timings, cache=audit.cache.records),
              osp.join(work_dir, 'timings.json'))
    status = {s['key']: s['status'] for s in rendered}
    print_log(f'[audit] report written to {path} ('
              + ', '.join(f'{k}: {v}' for k, v in status.items()) + ')', logger='current')
    return dict(report=path, status=status, timings=timings, total_s=total,
                cache=audit.cache.records)
