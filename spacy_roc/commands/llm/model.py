"""The model of `descriptions expand`: a [model] block of spacy-llm's llm_models,
checked before any call and built at the first call (`LazyModel`), so a run that
spacy-llm's cache answers builds nothing: no API key, no request."""
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from spacy_llm.registry import registry

from ...errors import Errors, Warnings

PathLike = Union[str, Path]


class ModelFault(Exception):
    """The model could not answer: no API key, or an error building or calling it.
    Carries the coded warning to give for each label that keeps its descriptions."""

    def __init__(self, template: str, **fields: Any) -> None:
        super().__init__(template)
        self.template = template
        self.fields = fields

    def warning(self, label: str, n_kept: int) -> str:
        """The coded warning for a label that keeps its n_kept descriptions."""
        return self.template.format(label=label, n_kept=n_kept, **self.fields)


def load_code(path: PathLike) -> None:
    """Import a Python file, e.g. one that registers a model in llm_models, the way
    `spacy train --code` does.

    path (Union[str, Path]): The Python file.
    RAISES (ValueError): ROC_E309 if it is missing or raises.
    """
    from spacy.util import import_file

    if not Path(path).is_file():
        raise ValueError(Errors.ROC_E309.format(path=path, reason="no such file"))
    try:
        import_file("python_code", path)
    except Exception as err:
        raise ValueError(Errors.ROC_E309.format(path=path, reason=describe(err))) from err


def read_model_block(source: Union[PathLike, Dict[str, Any]]) -> Dict[str, Any]:
    """The [model] block of a spacy-llm config, checked against the registry
    without building the model (so without any network call).

    source (Union[str, Path, Dict[str, Any]]): A config file, or the config as a dict.
    RETURNS (Dict[str, Any]): The [model] block, as written.
    RAISES (ValueError): ROC_E300-E303.
    """
    from confection import ConfigValidationError

    config = source if isinstance(source, dict) else _load_config(source)
    block = config.get("model")
    if not isinstance(block, dict) or not isinstance(block.get("@llm_models"), str):
        raise ValueError(Errors.ROC_E301.format(source=source))
    name = block["@llm_models"]
    if not registry.has("llm_models", name):
        available = ", ".join(sorted(registry.llm_models.get_all()))
        raise ValueError(Errors.ROC_E302.format(name=name, available=available))
    try:
        registry.fill({"model": dict(block)}, validate=True)
    except ConfigValidationError as err:
        raise ValueError(Errors.ROC_E303.format(source=source, name=name, reason=err)) from err
    return dict(block)


def _load_config(path: PathLike) -> Dict[str, Any]:
    """A config file, interpolated; ROC_E300 if it is missing or malformed."""
    from spacy.util import load_config

    if not Path(path).is_file():
        raise ValueError(Errors.ROC_E300.format(source=path, reason="no such file"))
    try:
        return load_config(path, interpolate=True)
    except ValueError as err:
        raise ValueError(Errors.ROC_E300.format(source=path, reason=err)) from err


def build_model(block: Dict[str, Any]) -> Callable:
    """Build the model of a [model] block. spacy-llm's REST models check their API
    key when built, with a warning, and then fail at their first request.

    block (Dict[str, Any]): The [model] block.
    RETURNS (Callable): The model: prompts per doc -> responses per doc.
    RAISES (ModelFault): ROC_W300 if spacy-llm warned of a missing API key,
        ROC_W304 for any other error.
    """
    name = block["@llm_models"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = registry.resolve({"model": dict(block)})["model"]
        except Exception as err:
            key = [str(w.message) for w in caught if "API key" in str(w.message)]
            if key:
                raise ModelFault(Warnings.ROC_W300, model=name, reason=key[0]) from err
            raise ModelFault(Warnings.ROC_W304, model=name, error=describe(err)) from err
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model


class LazyModel:
    """A model of llm_models for the `llm` pipe, built at its first call. A model
    that cannot be built is tried once: every call raises that fault."""

    def __init__(self, block: Dict[str, Any]) -> None:
        """block (Dict[str, Any]): The [model] block (see read_model_block)."""
        self.block = block
        self.name = block["@llm_models"]
        self._model: Optional[Callable] = None
        self._fault: Optional[ModelFault] = None

    def __call__(self, prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
        """Ask the model: prompts per doc -> responses per doc, as lists of str.
        RAISES (ModelFault): ROC_W300/W304 (see build_model), or ROC_W301 if the
            model raises or returns no text."""
        prompts = [list(prompts_for_doc) for prompts_for_doc in prompts]
        model = self._built()
        try:
            responses: List[List[Any]] = [list(responses_for_doc) for responses_for_doc in model(prompts)]
        except Exception as err:
            raise ModelFault(Warnings.ROC_W301, model=self.name, error=describe(err)) from err
        wrong = [r for responses_for_doc in responses for r in responses_for_doc if not isinstance(r, str)]
        if wrong:
            error = f"no error but returned a {type(wrong[0]).__name__}, not a str,"
            raise ModelFault(Warnings.ROC_W301, model=self.name, error=error)
        return responses

    def _built(self) -> Callable:
        if self._model is None and self._fault is None:
            try:
                self._model = build_model(self.block)
            except ModelFault as fault:
                self._fault = fault
        if self._fault is not None:
            raise self._fault
        return self._model


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
