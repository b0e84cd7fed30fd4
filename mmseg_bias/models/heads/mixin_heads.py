"""Method versions of stock decode heads: class (Mixin, StockHead), created once per stock head."""
import sys

from mmseg.registry import MODELS

_CLASSES = {}


def mixin_head_class(mixin, base_type, prefix, owner):
    """The class ``<prefix><Base>`` deriving from (``mixin``, registered decode head ``base_type``).

    Args:
        mixin (type): the method's mixin (its ``__init__`` takes the method's options).
        base_type (str): registered decode head name, e.g. 'FCNHead'.
        prefix (str): class-name prefix, e.g. 'DropClass' -> DropClassFCNHead.
        owner (str): module that will hold the class as an attribute (so pickle finds it).
    """
    base = MODELS.get(base_type)
    if base is None:
        raise KeyError(f'{prefix}Head: base_type {base_type!r} is not a registered decode head '
                       '(e.g. FCNHead, ASPPHead, DepthwiseSeparableASPPHead)')
    if (mixin, base) not in _CLASSES:
        name = prefix + base.__name__
        cls = type(name, (mixin, base), {'__module__': owner,
                                         '__doc__': f'{base.__name__} with {mixin.__doc__}'})
        setattr(sys.modules[owner], name, cls)
        _CLASSES[(mixin, base)] = cls
    return _CLASSES[(mixin, base)]
