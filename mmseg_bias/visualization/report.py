"""One self-contained HTML page from an audit report (a plain, JSON-able dict).

The page has no scripts and no external resources (no URLs, fonts or CDNs): styles are inline and
every figure is embedded as a base64 PNG (or, with ``embed=False``, linked by a path relative to
the page). Report layout::

    report = dict(title=str, subtitle=str, meta=[(label, value), ...],
                  models=[dict(name=, config=, checkpoint=), ...],
                  summary=dict(header=[...], rows=[[...], ...]) or None,
                  sections=[section, ...])
    section = dict(key=str, title=str, description=str (one sentence: what it shows, how to read
                   it), status='ok' | 'unavailable' | 'failed', note=str,
                   blocks=[block, ...],                # full width
                   columns={model name: [block, ...]}) # side by side, one column per model
    block = dict(kind='image', path=str, caption=str)
          | dict(kind='table', header=[...], rows=[[...]], caption=str, digits=int)
          | dict(kind='text', text=str) | dict(kind='notice', text=str)
"""
import base64
import html
import math
import os.path as osp

from mmseg_bias.utils import atomic_open

__all__ = ['render_report', 'format_value', 'STATUS_LABELS']

STATUS_LABELS = {'ok': '', 'unavailable': 'not available', 'failed': 'failed'}

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0;
       color: #1d2329; background: #f4f6f8; line-height: 1.45; }
header { background: #1f3a5f; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 26px; }
header p { margin: 0; opacity: 0.85; }
main { padding: 16px 32px 48px 32px; max-width: 1800px; }
nav ol { columns: 2; margin: 8px 0; }
nav a, a { color: #1f5fa8; }
section { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; margin: 18px 0;
          padding: 14px 20px; }
section h2 { margin: 0 0 6px 0; font-size: 20px; }
.description { margin: 0 0 12px 0; color: #3b4550; font-style: italic; }
.status { display: inline-block; font-size: 12px; font-weight: 600; border-radius: 10px;
          padding: 1px 9px; margin-left: 8px; vertical-align: middle; }
.status-unavailable { background: #fff2cc; color: #7a5b00; }
.status-failed { background: #fbd5d5; color: #8a1c1c; }
.notice { background: #fff8e1; border-left: 4px solid #e0b000; padding: 6px 10px; margin: 6px 0; }
.columns { display: grid; gap: 14px; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); }
.column { border-top: 3px solid #1f3a5f; padding-top: 6px; min-width: 0; }
.column h3 { margin: 0 0 6px 0; font-size: 16px; }
figure { display: inline-block; vertical-align: top; margin: 8px 12px 8px 0; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e7eb;
             background: #fff; }
figcaption { font-size: 13px; color: #4a5561; }
.table-wrap { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border: 1px solid #d8dde3; padding: 2px 7px; text-align: right; white-space: nowrap; }
th { background: #eef2f6; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: bottom; text-align: left; font-size: 12.5px; color: #4a5561;
          padding-top: 3px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; word-break: break-all; }
"""


def format_value(value, digits=2):
    """Table cell text: floats rounded to ``digits``, None / NaN as an en dash."""
    if value is None:
        return '–'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, float) or type(value).__name__.startswith('float'):
        value = float(value)
        return '–' if math.isnan(value) else f'{value:.{digits}f}'
    return str(value)


def _esc(text):
    return html.escape(str(text), quote=True)


def _image_src(path, page_dir, embed):
    if embed:
        with open(path, 'rb') as f:
            data = base64.b64encode(f.read()).decode('ascii')
        return f'data:image/png;base64,{data}'
    return _esc(osp.relpath(path, page_dir).replace(osp.sep, '/'))


def _table(block):
    digits = block.get('digits', 2)
    parts = ['<div class="table-wrap"><table>']
    if block.get('caption'):
        parts.append(f'<caption>{_esc(block["caption"])}</caption>')
    if block.get('header'):
        parts.append('<thead><tr>' + ''.join(f'<th>{_esc(h)}</th>' for h in block['header'])
                     + '</tr></thead>')
    parts.append('<tbody>')
    for row in block.get('rows', []):
        parts.append('<tr>' + ''.join(f'<td>{_esc(format_value(v, digits))}</td>' for v in row)
                     + '</tr>')
    parts.append('</tbody></table></div>')
    return ''.join(parts)


def _block(block, page_dir, embed):
    kind = block['kind']
    if kind == 'image':
        if not osp.isfile(block['path']):
            return f'<p class="notice">figure missing: {_esc(osp.basename(block["path"]))}</p>'
        caption = block.get('caption', '')
        alt = caption or osp.basename(block['path'])
        return (f'<figure><img src="{_image_src(block["path"], page_dir, embed)}" '
                f'alt="{_esc(alt)}" loading="eager">'
                + (f'<figcaption>{_esc(caption)}</figcaption>' if caption else '') + '</figure>')
    if kind == 'table':
        return _table(block)
    if kind == 'text':
        return f'<p>{_esc(block["text"])}</p>'
    if kind == 'notice':
        return f'<p class="notice">{_esc(block["text"])}</p>'
    raise ValueError(f'unknown report block kind {kind!r} (image, table, text or notice)')


def _section(section, page_dir, embed):
    status = section.get('status', 'ok')
    badge = (f'<span class="status status-{_esc(status)}">{_esc(STATUS_LABELS[status])}</span>'
             if STATUS_LABELS.get(status) else '')
    parts = [f'<section id="{_esc(section["key"])}">',
             f'<h2>{_esc(section["title"])}{badge}</h2>',
             f'<p class="description">{_esc(section["description"])}</p>']
    if section.get('note'):
        parts.append(f'<p class="notice">{_esc(section["note"])}</p>')
    parts += [_block(b, page_dir, embed) for b in section.get('blocks', [])]
    columns = section.get('columns') or {}
    if columns:
        parts.append(f'<div class="columns" style="--n: {len(columns)}">')
        for name, blocks in columns.items():
            parts.append(f'<div class="column"><h3>{_esc(name)}</h3>'
                         + ''.join(_block(b, page_dir, embed) for b in blocks) + '</div>')
        parts.append('</div>')
    parts.append('</section>')
    return '\n'.join(parts)


def render_report(report, path, embed=True):
    """Write ``report`` (layout in the module docstring) as one HTML page at ``path``.

    Args:
        report (dict): title, subtitle, meta, models, summary and sections.
        path (str): the HTML file, written atomically.
        embed (bool): embed figures as base64 PNGs (a single self-contained file); False links
            them by relative path (the figures must stay beside the page).

    Returns:
        str: ``path``.
    """
    page_dir = osp.dirname(osp.abspath(path))
    sections = report.get('sections', [])
    head = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_esc(report["title"])}</title><style>{STYLE}</style></head><body>')
    parts = [head, f'<header><h1>{_esc(report["title"])}</h1>'
             f'<p>{_esc(report.get("subtitle", ""))}</p></header><main>']
    overview = ['<section id="overview"><h2>Overview</h2><dl class="meta">']
    for label, value in report.get('meta', []):
        overview.append(f'<dt>{_esc(label)}</dt><dd>{_esc(value)}</dd>')
    for model in report.get('models', []):
        overview.append(f'<dt>model {_esc(model["name"])}</dt><dd>{_esc(model["config"])} · '
                        f'{_esc(model["checkpoint"])}</dd>')
    overview.append('</dl>')
    if report.get('summary'):
        overview.append(_table(dict(report['summary'], kind='table')))
    overview.append('<nav><ol>' + ''.join(
        f'<li><a href="#{_esc(s["key"])}">{_esc(s["title"])}</a>'
        + (f' ({_esc(STATUS_LABELS[s.get("status", "ok")])})'
           if STATUS_LABELS.get(s.get('status', 'ok')) else '') + '</li>'
        for s in sections) + '</ol></nav></section>')
    parts += overview
    parts += [_section(s, page_dir, embed) for s in sections]
    parts.append('</main></body></html>\n')
    with atomic_open(path) as f:
        f.write('\n'.join(parts))
    return path
