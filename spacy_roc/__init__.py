"""spacy-roc: multimodal relation extraction by retrieval over relation descriptions.

Importing this package is light: torch, transformers and timm are imported only when a
model is initialized or loaded.
"""
from .extensions import install_extensions, make_record, relation_spans

__version__ = "0.2.0"

install_extensions()


def render(*args, **kwargs):
    """Render docs with their relations as HTML: see spacy_roc.visualize.render
    (imported on first use)."""
    from .commands.visualize import render as _render

    return _render(*args, **kwargs)


__all__ = ["install_extensions", "make_record", "relation_spans", "render", "__version__"]
