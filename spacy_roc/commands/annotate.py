"""Annotate files with a pipeline: ``python -m spacy_roc annotate MODEL INPUT OUTPUT``.

**Input**: JSONL, one object per line, with character offsets as spaCy and Prodigy
use them::

    {"text": str, "entities": [{"start": int, "end": int, "label": str}, ...],
     "image": optional str, "pairs": optional [[head, tail], ...], ...any other fields}

or a ``.spacy`` file (its docs' entities, ``doc._.image`` and optional
``doc._.relation_pairs``). A line is read into a doc by the codec
(``spacy_roc.formats.codec.doc_from_json``): the entities go where the pipeline's
``roc_relations`` component reads them, the span group ``spans_key``, or ``doc.ents``
when it is None (overlapping entities are then a bad line); ``"pairs"`` lists
``[head, tail]`` indices into ``"entities"``, the only pairs scored (in
``doc._.relation_pairs``); without it the pipeline's candidate function proposes the
pairs. A string ``"image"`` is read by the codec's one image rule (a data URI, else an
existing file, else base64, else a missing file; relative paths are joined to the
input file's folder, or to ``images_dir``), and opened: an unreadable image is a bad
line. In a ``.spacy`` doc, a string image is a path.

**Output**: one JSON line per input line, in input order: the input fields, and
``"relations"``: ``[{"head": {"start", "end", "text", "label"}, "tail": {...},
"label", "score", "alternatives"}]`` with character offsets (codec.records_to_json).
A bad line (not a UTF-8 JSON object or holding a lone surrogate escape, no text,
entity offsets outside the text or not on token boundaries, overlapping entities where
doc.ents is read, malformed pairs, an unreadable image) is never dropped: its output
line holds its fields (``{"raw": line}`` when it is not a JSON object) and ``"error":
{"code", "reason"}`` (ROC_E500-E506); ``--strict`` raises ROC_E507 at the first one
instead. The output of a ``.spacy`` input holds ``text``, ``entities`` and ``image``
(the path as read, or a data URI; codec.doc_to_json) per doc. A ``.spacy`` output
holds one doc per input line with ``doc._.relations``; the doc of a bad line has no
relations and its error in ``doc.user_data["spacy_roc.annotate.error"]``.

**Backends** run the same code: ``parse_line`` turns a line into a doc,
``annotate_items`` runs ``nlp.pipe`` over the docs and ``output_line`` turns a doc back
into a line. The local backend streams a file through them; the Ray backend runs them
in a Ray Data actor pool (``map_batches``) and writes the lines in input order.
"""
import json
from collections import Counter, deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Deque, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..errors import Errors, Warnings, warn
from ..extensions import validate_record
from ..callbacks import make_release_memory
from ..formats.codec import CodecError, check_image, doc_from_json, doc_to_json, is_uri, records_to_json, resolve_path
from ..formats.jsonl import read_file_lines, read_lines

BACKENDS = ("local", "ray")
ERROR_KEY = "spacy_roc.annotate.error"
RESERVED_FIELDS = ("relations", "error")
# Lines per block of the Ray dataset read from a file.
BLOCK_LINES = 1024
MAX_FIRST_ERRORS = 20


@dataclass(frozen=True)
class Settings:
    """What reading a line needs to know about the pipeline and the input.

    spans_key (Optional[str]): Where the roc_relations component reads entities.
    base_dir (Optional[str]): Folder for relative image paths.
    """

    spans_key: Optional[str]
    base_dir: Optional[str]

    @classmethod
    def for_pipeline(cls, nlp: Language, base_dir: Optional[Union[str, Path]]) -> "Settings":
        """The settings of a pipeline's roc_relations component (evaluate.find_relation_pipe;
        ROC_E509 if it has none)."""
        from .evaluate import find_relation_pipe

        try:
            pipe = find_relation_pipe(nlp)
        except ValueError:
            reason = f"the pipeline has no roc_relations component (pipeline: {nlp.pipe_names})"
            raise ValueError(Errors.ROC_E509.format(reason=reason)) from None
        return cls(pipe.spans_key, None if base_dir is None else str(base_dir))


@dataclass
class Item:
    """One input line (or `.spacy` doc) on its way through annotate.

    fields (Optional[Dict[str, Any]]): The line's JSON object (None: not an object,
        or a doc read from `.spacy`).
    raw (Optional[str]): The line, when it is not a JSON object.
    doc (Optional[Doc]): The doc (None for bad lines without one).
    error (Optional[Dict[str, str]]): {"code", "reason"} of a bad line; None if good.
    """

    fields: Optional[Dict[str, Any]] = None
    raw: Optional[str] = None
    doc: Optional[Doc] = None
    error: Optional[Dict[str, str]] = None

    @property
    def n_relations(self) -> int:
        return 0 if self.error is not None or self.doc is None else len(self.doc._.relations)


# -- reading lines --------------------------------------------------------------------


def parse_line(data: bytes, nlp: Language, settings: Settings) -> Item:
    """Turn one input line into an Item: its doc (codec.doc_from_json, the image
    opened), or its error.

    data (bytes): The line, without its line end.
    nlp (Language): The pipeline, for its tokenizer.
    settings (Settings): Where entities go and relative image paths start.
    RETURNS (Item): The item.
    """
    try:
        text = data.decode("utf8")
    except UnicodeDecodeError as err:
        error = CodecError("ROC_E500", reason=f"not UTF-8: {err}")
        return Item(raw=data.decode("utf8", "replace"), error=error.as_dict())
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError) as err:
        return Item(raw=text, error=CodecError("ROC_E500", reason=str(err)).as_dict())
    if not isinstance(fields, dict):
        reason = f"a JSON {type(fields).__name__}"
        return Item(raw=text, error=CodecError("ROC_E500", reason=reason).as_dict())
    _warn_fields(fields)
    try:
        doc = doc_from_json(nlp, fields, settings.spans_key, settings.base_dir, open_image=True)
    except CodecError as err:
        return Item(fields=fields, error=err.as_dict())
    except UnicodeEncodeError as err:  # spaCy's StringStore cannot hold a "\\ud800"
        reason = f"a string holds a lone surrogate escape, which UTF-8 cannot encode: {err.reason}"
        return Item(fields=fields, error=CodecError("ROC_E500", reason=reason).as_dict())
    return Item(fields=fields, doc=doc)


def _warn_fields(fields: Dict[str, Any]) -> None:
    for name in RESERVED_FIELDS:
        if name in fields:
            warn(Warnings.ROC_W500.format(field=name))


# -- reading .spacy -------------------------------------------------------------------


def read_docbin_items(path: Union[str, Path], nlp: Language, settings: Settings) -> Iterator[Item]:
    """The docs of a .spacy file as Items (the file is loaded at once, as DocBin
    does; the docs are built lazily). Fast inside docbin.cached_msgpack.

    path (Union[str, Path]): The .spacy file.
    nlp (Language): The pipeline, for its vocab.
    settings (Settings): Where entities go and relative image paths start.
    YIELDS (Item): One item per doc.
    """
    for doc in DocBin().from_disk(path).get_docs(nlp.vocab):
        try:
            prepare_doc(doc, settings)
        except CodecError as err:
            doc._.relations = []  # the gold relations of the file are no predictions
            yield Item(doc=doc, error=err.as_dict())
            continue
        yield Item(doc=doc)


def prepare_doc(doc: Doc, settings: Settings) -> None:
    """Ready a doc read from .spacy for the component: its entities (doc.ents, if the
    span group is missing) in the span group, its listed pairs checked, and its image
    (a path joined to the base folder) opened.

    RAISES (CodecError): ROC_E505, ROC_E506.
    """
    key = settings.spans_key
    if key is not None:
        doc.spans[key] = list(doc.spans[key]) if key in doc.spans else list(doc.ents)
    for head, tail in doc._.relation_pairs or ():
        try:
            validate_record(doc, {"head": head, "tail": tail, "label": ""})
        except ValueError as err:
            raise CodecError("ROC_E505", reason=str(err)) from None
    if isinstance(doc._.image, str):
        doc._.image = resolve_path(doc._.image, settings.base_dir)
    if doc._.image is not None:
        check_image(doc._.image)


# -- annotating -----------------------------------------------------------------------


def annotate_items(nlp: Language, items: Iterable[Item], batch_size: int = 64, n_process: int = 1) -> Iterator[Item]:
    """Run nlp.pipe over the docs of the good items, lazily, and yield every item in
    input order (bad items pass around the pipeline). The one prediction path of both
    backends.

    nlp (Language): The pipeline.
    items (Iterable[Item]): The items, e.g. from parse_line.
    batch_size (int): Docs per batch of nlp.pipe.
    n_process (int): Processes of nlp.pipe.
    YIELDS (Item): The items, good ones with their annotated doc.
    """
    pending: Deque[Item] = deque()

    def docs() -> Iterator[Doc]:
        for item in items:
            pending.append(item)
            if item.error is None:
                yield item.doc

    for doc in nlp.pipe(docs(), batch_size=batch_size, n_process=n_process):
        while pending[0].error is not None:
            yield pending.popleft()
        item = pending.popleft()
        item.doc = doc  # with n_process > 1, a copy came back
        yield item
    while pending:
        yield pending.popleft()


def output_record(item: Item, spans_key: Optional[str]) -> Dict[str, Any]:
    """The output object of an item: its input fields (or {"raw": line}, or the
    fields of its .spacy doc, codec.doc_to_json) with "relations" (good,
    codec.records_to_json) or "error" (bad).

    item (Item): The annotated item.
    spans_key (Optional[str]): Where the component read the entities.
    RETURNS (Dict[str, Any]): The JSON-safe output object.
    """
    if item.fields is not None:
        record = dict(item.fields)
    elif item.doc is not None:
        record = doc_to_json(item.doc, spans_key)
    else:
        record = {"raw": item.raw}
    if item.error is not None:
        record["error"] = item.error
    else:
        record["relations"] = records_to_json(item.doc, spans_key)
    return record


def output_line(item: Item, spans_key: Optional[str]) -> bytes:
    """The output line of an item: JSON in UTF-8, without line end; the same in both
    backends. Non-ASCII characters are written as they are, unless the line holds a
    lone surrogate (JSON allows "\\ud800", UTF-8 cannot encode it): then as escapes.
    """
    record = output_record(item, spans_key)
    try:
        return json.dumps(record, ensure_ascii=False).encode("utf8")
    except UnicodeEncodeError:
        return json.dumps(record).encode("utf8")


# -- the run: summary, writers, backends ----------------------------------------------


@dataclass
class Summary:
    """Counts of a run: lines, annotated lines, relations, bad lines by code, and the
    first bad lines (line number, code, reason)."""

    lines: int = 0
    annotated: int = 0
    relations: int = 0
    errors: Counter = field(default_factory=Counter)
    first_errors: List[Tuple[int, str, str]] = field(default_factory=list)

    def add(self, error: Optional[Dict[str, str]], n_relations: int) -> None:
        """Count one output line (error: its {"code", "reason"}, or None)."""
        self.lines += 1
        self.relations += n_relations
        if error is None:
            self.annotated += 1
            return
        self.errors[error["code"]] += 1
        if len(self.first_errors) < MAX_FIRST_ERRORS:
            self.first_errors.append((self.lines, error["code"], error["reason"]))

    def as_dict(self) -> Dict[str, Any]:
        errors = dict(sorted(self.errors.items()))
        counts = {"lines": self.lines, "annotated": self.annotated, "relations": self.relations}
        return {**counts, "n_errors": sum(errors.values()), "errors": errors, "first_errors": [list(e) for e in self.first_errors]}


def count_line(summary: Summary, error: Optional[Dict[str, str]], n_relations: int, strict: bool, path: Any) -> None:
    """Count an output line; with strict, a bad line raises ROC_E507 instead."""
    if strict and error is not None:
        raise ValueError(Errors.ROC_E507.format(line_no=summary.lines + 1, path=path, **error))
    summary.add(error, n_relations)


class JsonlWriter:
    """Writes the output lines of items to a JSONL file, as they come."""

    def __init__(self, path: Path, spans_key: Optional[str]):
        self.spans_key = spans_key
        self.file = open(path, "wb")

    def write(self, item: Item) -> None:
        self.file.write(output_line(item, self.spans_key) + b"\n")

    def close(self) -> None:
        self.file.close()


class DocBinWriter:
    """Collects the docs of items (the docs of bad lines with their error in
    doc.user_data[ERROR_KEY]) and writes them to a .spacy file on close. Fast inside
    docbin.cached_msgpack."""

    def __init__(self, path: Path, nlp: Language):
        self.path, self.nlp = path, nlp
        self.doc_bin = DocBin(store_user_data=True)

    def write(self, item: Item) -> None:
        doc = item.doc if item.doc is not None else self._text_doc(item.fields)
        if item.error is not None:
            doc.user_data[ERROR_KEY] = item.error
        self.doc_bin.add(doc)

    def _text_doc(self, fields: Optional[Dict[str, Any]]) -> Doc:
        """The doc of a bad line's text (empty if it has none, or one spaCy cannot
        store)."""
        text = (fields or {}).get("text")
        try:
            return self.nlp.make_doc(text if isinstance(text, str) else "")
        except UnicodeEncodeError:
            return self.nlp.make_doc("")

    def close(self) -> None:
        self.doc_bin.to_disk(self.path)


def annotate_local(
    nlp: Union[str, Path, Language], input_path: Union[str, Path], output_path: Union[str, Path], *,
    images_dir: Optional[Union[str, Path]] = None, batch_size: int = 64, n_process: int = 1, gpu_id: int = -1,
    strict: bool = False, progress: bool = True,
) -> Dict[str, Any]:
    """Annotate a JSONL or .spacy file into a JSONL or .spacy file, streaming.

    nlp (Union[str, Path, Language]): The pipeline, or its name or folder.
    input_path (Union[str, Path]): The input file.
    output_path (Union[str, Path]): The output file (its folder is created).
    images_dir (Optional[Union[str, Path]]): Folder for relative image paths; by
        default the input file's folder.
    batch_size (int): Docs per batch of nlp.pipe.
    n_process (int): Processes of nlp.pipe.
    gpu_id (int): GPU to load the pipeline on (-1: CPU); when nlp is a name or folder.
    strict (bool): Raise ROC_E507 at the first bad line.
    progress (bool): Show a progress bar (lines done).
    RETURNS (Dict[str, Any]): The summary (see Summary.as_dict).
    """
    _check_local_paths(input_path, output_path)
    input_path, output_path = Path(input_path), Path(output_path)
    nlp = _load(nlp, gpu_id)
    settings = Settings.for_pipeline(nlp, _base_dir(images_dir, str(input_path)))
    make_release_memory()(nlp, {})  # glibc: big blocks mmapped, so memory stays flat
    if input_path.suffix == ".spacy":
        items = read_docbin_items(input_path, nlp, settings)
    else:
        items = (parse_line(line, nlp, settings) for line in read_file_lines(input_path))
    annotated = annotate_items(nlp, items, batch_size, n_process)
    to_spacy = output_path.suffix == ".spacy"
    writer = DocBinWriter(output_path, nlp) if to_spacy else JsonlWriter(output_path, settings.spans_key)
    with _msgpack_cache(".spacy" in (input_path.suffix, output_path.suffix)):
        return _write_items(annotated, writer, strict, input_path, progress)


def _msgpack_cache(needed: bool) -> Any:
    """docbin.cached_msgpack (DocBin packs each doc's user data), if needed."""
    from ..formats.docbin import cached_msgpack

    return cached_msgpack() if needed else nullcontext()


def _check_local_paths(input_path: Union[str, Path], output_path: Union[str, Path]) -> None:
    reason = None
    if is_uri(str(input_path)) or is_uri(str(output_path)):
        reason = f"the local backend reads and writes local files, not {input_path} / {output_path}; use --backend ray"
    elif not Path(input_path).is_file():
        reason = f"the input file {input_path} does not exist"
    elif Path(output_path).exists() and Path(output_path).samefile(input_path):
        reason = f"the output {output_path} is the input file"
    if reason is not None:
        raise ValueError(Errors.ROC_E509.format(reason=reason))
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)


def _base_dir(images_dir: Optional[Union[str, Path]], input_path: str) -> str:
    """The folder for relative image paths: images_dir or the input's folder,
    absolute (the workers of a cluster have other working directories)."""
    if images_dir is not None:
        return str(images_dir) if is_uri(str(images_dir)) else str(Path(images_dir).absolute())
    if is_uri(input_path):
        return input_path.rsplit("/", 1)[0]
    return str(Path(input_path).absolute().parent)


def _load(nlp: Union[str, Path, Language], gpu_id: int) -> Language:
    if isinstance(nlp, Language):
        return nlp
    from .evaluate import load_pipeline

    return load_pipeline(nlp, gpu_id)


def _write_items(items: Iterable[Item], writer: Any, strict: bool, path: Path, progress: bool) -> Dict[str, Any]:
    from tqdm import tqdm

    summary = Summary()
    try:
        for item in tqdm(items, desc=path.name, unit=" lines", disable=not progress):
            count_line(summary, item.error, item.n_relations, strict, path)
            writer.write(item)
    finally:
        writer.close()
    return summary.as_dict()


# -- Ray backend ----------------------------------------------------------------------


def import_ray() -> Any:
    """Import ray and Ray Data (ROC_E508, naming the extra, if they are missing)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise ValueError(Errors.ROC_E508.format(reason=err)) from err
    return ray


class AnnotateBatch:
    """The Ray Data callable class: loads the pipeline once per actor, and turns a
    batch of input lines into output lines with parse_line, annotate_items and
    output_line.

    model (str): Pipeline name or folder, loadable on every worker.
    base_dir (Optional[str]): Folder for relative image paths.
    batch_size (int): Docs per batch of nlp.pipe.
    use_gpu (bool): Load the pipeline on the first GPU Ray gave the actor.
    """

    def __init__(self, model: str, base_dir: Optional[str], batch_size: int, use_gpu: bool):
        self.nlp = _load(model, 0 if use_gpu else -1)
        self.settings = Settings.for_pipeline(self.nlp, base_dir)
        self.batch_size = batch_size

    def __call__(self, batch: Any) -> Any:
        """batch (pyarrow.Table): Columns line_no and raw. RETURNS (pyarrow.Table):
        line_no, output (the output line), code, reason and n_relations."""
        import pyarrow

        items = (parse_line(raw, self.nlp, self.settings) for raw in batch.column("raw").to_pylist())
        rows: Dict[str, list] = {"output": [], "code": [], "reason": [], "n_relations": []}
        for item in annotate_items(self.nlp, items, self.batch_size):
            rows["output"].append(output_line(item, self.settings.spans_key))
            rows["code"].append(None if item.error is None else item.error["code"])
            rows["reason"].append(None if item.error is None else item.error["reason"])
            rows["n_relations"].append(item.n_relations)
        text, types = pyarrow.string(), {"output": pyarrow.binary(), "n_relations": pyarrow.int64()}
        columns = {name: pyarrow.array(values, types.get(name, text)) for name, values in rows.items()}
        return pyarrow.table({"line_no": batch.column("line_no"), **columns})


@lru_cache(maxsize=1)
def lines_datasource_class() -> type:
    """A Ray Data file datasource of the lines of JSONL files (see jsonl.iter_lines), as
    rows {"line_no", "raw"}: read in chunks, split at b"\\n" only, in blocks of
    BLOCK_LINES lines. (ray.data.read_json drops bad lines' text and cannot read them
    at all; read_text splits at every str.splitlines break and reads whole files.)"""
    from ray.data.datasource import FileBasedDatasource

    class JsonLinesDatasource(FileBasedDatasource):
        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            import pyarrow

            rows = enumerate(read_lines(f), 1)
            while block := list(islice(rows, BLOCK_LINES)):
                numbers, lines = zip(*block)
                yield pyarrow.table({"line_no": list(numbers), "raw": pyarrow.array(lines, pyarrow.binary())})

    return JsonLinesDatasource


def annotate_ray(
    model: Union[str, Path], input_path: str, output_path: str, *, images_dir: Optional[str] = None,
    batch_size: int = 64, concurrency: int = 1, gpu_id: int = -1, gpus_per_actor: Optional[float] = None,
    cpus_per_actor: float = 1.0, ray_address: Optional[str] = None, strict: bool = False, progress: bool = True,
) -> Dict[str, Any]:
    """Annotate a JSONL file into a JSONL file on Ray Data: the lines are read as a
    dataset, annotated by an actor pool (map_batches with AnnotateBatch) and written
    by the driver in input order. The output is the local backend's. Paths may be
    URIs of the storage Ray Data and pyarrow read (s3://, gs://, ...).

    model (Union[str, Path]): Pipeline name or folder, loadable on every worker.
    input_path (str): The JSONL input (a local path or a URI).
    output_path (str): The JSONL output (a local path or a URI).
    images_dir (Optional[str]): Folder for relative image paths, readable by the
        workers; by default the input's folder.
    batch_size (int): Lines per batch (map_batches and nlp.pipe).
    concurrency (int): Actors in the pool, each with its own pipeline.
    gpu_id (int): -1: CPU; 0 or more: GPUs (gpus_per_actor, 1 by default).
    gpus_per_actor (Optional[float]): GPUs per actor (fractions share a GPU).
    cpus_per_actor (float): CPUs per actor.
    ray_address (Optional[str]): Cluster to connect to; None: the running Ray, or a
        new local one.
    strict (bool): Raise ROC_E507 at the first bad line.
    progress (bool): Show progress bars.
    RETURNS (Dict[str, Any]): The summary (see Summary.as_dict).
    """
    ray = import_ray()
    _check_ray_paths(input_path, output_path)
    gpus = (1.0 if gpu_id >= 0 else 0.0) if gpus_per_actor is None else float(gpus_per_actor)
    started = _init_ray(ray, ray_address)
    try:
        resources = {"concurrency": concurrency, "gpus": gpus, "cpus": cpus_per_actor}
        dataset = _ray_dataset(ray, _absolute(model), _absolute(input_path), images_dir, batch_size, resources, progress)
        with _open_output(str(output_path)) as out:
            return _write_rows(dataset, out, strict, input_path, progress)
    finally:
        if started:
            ray.shutdown()


def _absolute(path: Union[str, Path]) -> str:
    """An existing local path made absolute (Ray's workers run in other folders);
    URIs and package names as they are."""
    path = str(path)
    return path if is_uri(path) or not Path(path).exists() else str(Path(path).absolute())


def _check_ray_paths(input_path: Any, output_path: Any) -> None:
    if str(input_path).endswith(".spacy") or str(output_path).endswith(".spacy"):
        reason = "--backend ray reads and writes JSONL; use the local backend for .spacy files"
        raise ValueError(Errors.ROC_E509.format(reason=reason))


def _init_ray(ray: Any, address: Optional[str]) -> bool:
    """Connect to the cluster at address, or start a local Ray if none runs.
    RETURNS (bool): Whether this call started Ray (and must shut it down)."""
    if address is None and ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False if address is None else None, ignore_reinit_error=True)
    return True


def _ray_dataset(
    ray: Any, model: str, input_path: str, images_dir: Optional[str], batch_size: int, resources: Dict[str, float],
    progress: bool,
) -> Any:
    """The dataset of output rows: input lines read in order, annotated by an actor
    pool of resources["concurrency"] actors with resources["gpus"] GPUs and
    resources["cpus"] CPUs each."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = progress
    base_dir = _base_dir(images_dir, input_path)
    lines = ray.data.read_datasource(lines_datasource_class()(input_path))
    return lines.map_batches(
        AnnotateBatch,
        fn_constructor_kwargs={"model": model, "base_dir": base_dir, "batch_size": batch_size, "use_gpu": resources["gpus"] > 0},
        batch_size=batch_size, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=int(resources["concurrency"])),
        num_cpus=resources["cpus"], num_gpus=resources["gpus"],
    )


def _open_output(path: str) -> BinaryIO:
    """A binary output stream: a local file (its folder created), or a pyarrow
    filesystem stream for a URI (s3://, gs://, ...)."""
    if is_uri(path):
        from pyarrow import fs

        filesystem, inner = fs.FileSystem.from_uri(path)
        return filesystem.open_output_stream(inner)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb")


def _write_rows(dataset: Any, out: BinaryIO, strict: bool, path: Any, progress: bool) -> Dict[str, Any]:
    from tqdm import tqdm

    summary = Summary()
    bar = tqdm(desc=str(path).rsplit("/", 1)[-1], unit=" lines", disable=not progress)
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in batch.to_pylist():
            if row["line_no"] != summary.lines + 1:  # preserve_order is what keeps this
                raise RuntimeError(f"Ray returned line {row['line_no']} as line {summary.lines + 1}")
            error = None if row["code"] is None else {"code": row["code"], "reason": row["reason"]}
            count_line(summary, error, row["n_relations"], strict, path)
            out.write(row["output"] + b"\n")
        bar.update(batch.num_rows)
    bar.close()
    return summary.as_dict()


def annotate(
    model: Union[str, Path, Language], input_path: Union[str, Path], output_path: Union[str, Path], *,
    backend: str = "local", **kwargs: Any,
) -> Dict[str, Any]:
    """Annotate a file with the local (annotate_local) or Ray (annotate_ray) backend.

    RETURNS (Dict[str, Any]): The summary.
    """
    if backend == "local":
        return annotate_local(model, input_path, output_path, **kwargs)
    if backend == "ray":
        return annotate_ray(model, str(input_path), str(output_path), **kwargs)
    raise ValueError(Errors.ROC_E509.format(reason=f"unknown backend {backend!r}; use one of {BACKENDS}"))
