"""Relation descriptions written by an LLM, as a spacy-llm task.

- `spacy_roc.RelationDescriptions.v1`, registered in spacy-llm's `llm_tasks`
  (registry.py; the task in task.py, its prompt in descriptions.v1.jinja, the
  response parser in parser.py), asks for new descriptions of one relation per doc.
- `expand_descriptions` (expand.py; `python -m spacy_roc descriptions expand`) runs
  it in spacy-llm's `llm` pipe, with spacy-llm's cache, over a descriptions file.

Needs the `llm` extra (spacy-llm): ROC_E308 without it.
"""
from ...errors import Errors

try:
    import spacy_llm  # noqa: F401
except ImportError as err:
    raise ImportError(Errors.ROC_E308) from err

from .expand import expand_descriptions  # noqa: E402
from .model import load_code  # noqa: E402
from .registry import make_descriptions_task  # noqa: E402
from .task import RelationDescriptionsTask, request_doc  # noqa: E402

__all__ = ["expand_descriptions", "load_code", "make_descriptions_task", "RelationDescriptionsTask", "request_doc"]
