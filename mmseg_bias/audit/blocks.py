"""Building blocks of report sections (see :mod:`mmseg_bias.visualization.report`)."""
from dataclasses import dataclass

__all__ = ['Section', 'image', 'table', 'text', 'notice', 'Unavailable']


class Unavailable(Exception):
    """A section (or one model's column) cannot be computed here; the message says why."""


@dataclass(frozen=True)
class Section:
    """A report section: ``run(audit) -> (blocks, columns, summary)``: full-width blocks,
    ``{model: blocks}`` shown side by side, and ``{model: {column: value}}`` for the report's
    overview table. ``run`` raises :class:`Unavailable` when the section does not apply."""
    key: str
    title: str
    description: str
    run: object


def image(path, caption=''):
    return dict(kind='image', path=path, caption=caption)


def table(header, rows, caption='', digits=2):
    return dict(kind='table', header=list(header), rows=[list(r) for r in rows], caption=caption,
                digits=digits)


def text(value):
    return dict(kind='text', text=value)


def notice(value):
    return dict(kind='notice', text=value)
