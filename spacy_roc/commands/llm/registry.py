"""The registered factory of spacy_roc.RelationDescriptions.v1 (spacy-llm's llm_tasks;
also declared under the spacy_llm_tasks entry points)."""
from spacy_llm.registry import registry

from ...errors import Errors
from .task import DEFAULT_TEMPLATE_V1, RelationDescriptionsTask

DEFAULT_N = 5


@registry.llm_tasks("spacy_roc.RelationDescriptions.v1")
def make_descriptions_task(template: str = DEFAULT_TEMPLATE_V1, n: int = DEFAULT_N) -> RelationDescriptionsTask:
    """RelationDescriptions.v1 task factory: n new descriptions per relation request.

    template (str): The jinja2 prompt template; by default descriptions.v1.jinja.
    n (int): New descriptions to ask for per relation.
    RETURNS (RelationDescriptionsTask): The task.
    RAISES (ValueError): ROC_E306 if n is not a positive int.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(Errors.ROC_E306.format(value=n))
    return RelationDescriptionsTask(template=template, n=n)
