from .io import atomic_open, dump_csv, dump_json, load_json, save_figure

__all__ = ['atomic_open', 'dump_csv', 'dump_json', 'load_json', 'save_figure']
