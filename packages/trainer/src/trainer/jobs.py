"""Job files: a YAML description of a training run, loaded and checked before anything trains.

```yaml
model: my_factories:make_model          # module:function (or path/to/file.py:function)
data: my_factories:make_data            # returns Datasets(train=..., eval=...) or {"train": ..., "eval": ...}
collator: my_factories:make_collator    # optional: returns a data collator
metrics: my_factories:make_metrics      # optional: returns compute_metrics(EvalPrediction) -> dict
callbacks: [my_factories:make_callback] # optional: each returns a TrainerCallback
trainer: trainer                        # or seq2seq (Seq2SeqTrainer + Seq2SeqTrainingArguments)
args:                                   # TrainingArguments fields
  output_dir: out
  max_steps: 100
```

A factory may also be written `{factory: module:function, kwargs: {...}}`. Modules are
imported with the job file's folder first on `sys.path`, so factories can sit beside it.
Every mistake raises `JobError` whose message names the file and line.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

__all__ = ["Datasets", "FactoryRef", "Job", "JobError", "load_job", "parse_job"]

TRAINER_KINDS = ("trainer", "seq2seq")
_FACTORY_KEYS = ("model", "data", "collator", "metrics")
_TOP_LEVEL_KEYS = ("name", "description", *_FACTORY_KEYS, "callbacks", "trainer", "args")


class JobError(Exception):
    """A job file (or its factories) is wrong; the message says where and how to fix it."""


@attrs.frozen
class Datasets:
    """What a job's `data` factory returns: the training set and an optional evaluation set.

    Any map-style dataset (`__len__` + `__getitem__`, e.g. a list, a torch `Dataset`, a
    `datasets.Dataset`) or an iterable dataset works for either.
    """

    train: Any
    eval: Any = None


@attrs.frozen
class FactoryRef:
    """`module:function` (or `file.py:function`) plus keyword arguments, and where it was written."""

    target: str
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    where: str = "<job>"

    @property
    def module_name(self) -> str:
        return self.target.rpartition(":")[0]

    @property
    def function_name(self) -> str:
        return self.target.rpartition(":")[2]


@attrs.frozen
class Job:
    """A parsed, checked job file."""

    model: FactoryRef
    data: FactoryRef
    collator: FactoryRef | None = None
    metrics: FactoryRef | None = None
    callbacks: tuple[FactoryRef, ...] = ()
    trainer: str = "trainer"
    args: Mapping[str, Any] = attrs.field(factory=dict)
    # where each `args` key was written ("job.yaml:12"), for error messages
    arg_locations: Mapping[str, str] = attrs.field(factory=dict)
    name: str = ""
    description: str = ""
    source: str = "<job>"
    base_dir: Path = attrs.field(factory=Path.cwd)

    def where(self, field: str) -> str:
        """`file:line` of an `args` field, or just the file when the field came from elsewhere."""
        return self.arg_locations.get(field, self.source)


def closest(word: str, choices: Any) -> str | None:
    """The choice closest to a misspelt `word`, if any is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Any, prefix: str = "") -> str:
    """`; did you mean 'x'?` for the closest choice, or an empty string."""
    match = closest(word, choices)
    return f"; did you mean {prefix + match!r}?" if match else ""


def load_job(path: str | Path) -> Job:
    """Read and check a job file; relative factory paths resolve against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise JobError(f"cannot read job file {str(path)!r}: {error.strerror}") from None
    return parse_job(text, source=str(path), base_dir=path.resolve().parent)


def parse_job(text: str, source: str = "<job>", base_dir: Path | None = None) -> Job:
    """Parse job YAML text; `source` names it in error messages."""
    node = _compose(text, source)
    if not isinstance(node, yaml.MappingNode):
        raise JobError(f"{source}: a job file is a mapping with at least `model:` and `data:`")
    keys = _mapping_items(node, source)
    for key, (key_node, _) in keys.items():
        if key not in _TOP_LEVEL_KEYS:
            raise JobError(
                f"{_at(source, key_node)}: unknown key {key!r}{suggest(key, _TOP_LEVEL_KEYS)} "
                f"(allowed: {', '.join(_TOP_LEVEL_KEYS)})"
            )
    for required in ("model", "data"):
        if required not in keys:
            raise JobError(f"{source}: missing `{required}:` (a `module:function` factory)")
    refs = {
        key: _factory_ref(key, keys[key][1], source)
        for key in _FACTORY_KEYS
        if key in keys and not _is_null(keys[key][1])
    }
    kind = _plain(keys["trainer"][1], source) if "trainer" in keys else "trainer"
    if kind not in TRAINER_KINDS:
        where = _at(source, keys["trainer"][1])
        raise JobError(
            f"{where}: trainer: {kind!r} is not one of {TRAINER_KINDS}{suggest(str(kind), TRAINER_KINDS)}"
        )
    args, locations = _args(keys.get("args"), source)
    return Job(
        model=refs["model"],
        data=refs["data"],
        collator=refs.get("collator"),
        metrics=refs.get("metrics"),
        callbacks=_callbacks(keys.get("callbacks"), source),
        trainer=kind,
        args=args,
        arg_locations=locations,
        name=str(_plain(keys["name"][1], source)) if "name" in keys else "",
        description=str(_plain(keys["description"][1], source)) if "description" in keys else "",
        source=source,
        base_dir=base_dir if base_dir is not None else Path.cwd(),
    )


# --- YAML nodes -> values, keeping line numbers ---------------------------------------------


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise JobError(f"{source}: not valid YAML: nested too deeply") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise JobError(f"{where}: not valid YAML: {problem}") from None


def _at(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _plain(node: yaml.Node, source: str) -> Any:
    """The Python value of a node, as `yaml.safe_load` would give it."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        raise JobError(f"{_at(source, node)}: {error}") from None
    finally:
        loader.dispose()


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _mapping_items(node: yaml.MappingNode, source: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = _plain(key_node, source)
        if not isinstance(key, str):
            raise JobError(f"{_at(source, key_node)}: keys are names, got {key!r}")
        if key in items:
            raise JobError(f"{_at(source, key_node)}: {key!r} is given twice")
        items[key] = (key_node, value_node)
    return items


def _factory_ref(key: str, node: yaml.Node, source: str) -> FactoryRef:
    where = _at(source, node)
    value = _plain(node, source)
    kwargs: Any = {}
    if isinstance(value, Mapping):
        unknown = set(value) - {"factory", "kwargs"}
        if unknown or "factory" not in value:
            raise JobError(
                f"{where}: {key}: write `module:function` or {{factory: module:function, kwargs: {{...}}}}"
            )
        value, kwargs = value["factory"], value.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise JobError(f"{where}: {key}: kwargs must be a mapping, got {kwargs!r}")
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        raise JobError(f"{where}: {key}: expected `module:function`, got {value!r}")
    return FactoryRef(target=value, kwargs=dict(kwargs), where=where)


def _callbacks(item: tuple[yaml.Node, yaml.Node] | None, source: str) -> tuple[FactoryRef, ...]:
    if item is None or _is_null(item[1]):
        return ()
    node = item[1]
    if not isinstance(node, yaml.SequenceNode):
        return (_factory_ref("callbacks", node, source),)
    return tuple(_factory_ref("callbacks", child, source) for child in node.value)


def _args(
    item: tuple[yaml.Node, yaml.Node] | None, source: str
) -> tuple[dict[str, Any], dict[str, str]]:
    if item is None or _is_null(item[1]):
        return {}, {}
    node = item[1]
    if not isinstance(node, yaml.MappingNode):
        raise JobError(f"{_at(source, node)}: args: expected a mapping of TrainingArguments fields")
    args: dict[str, Any] = {}
    locations: dict[str, str] = {}
    for key, (key_node, value_node) in _mapping_items(node, source).items():
        args[key] = _plain(value_node, source)
        locations[key] = _at(source, key_node)
    return args, locations


# --- factories ---------------------------------------------------------------------------------


def resolve_factory(ref: FactoryRef, base_dir: Path) -> Callable[..., Any]:
    """Import `module:function`; the job's folder comes first on `sys.path`."""
    module = _import(ref, base_dir)
    function = getattr(module, ref.function_name, None)
    if function is None:
        public = [name for name in vars(module) if not name.startswith("_")]
        raise JobError(
            f"{ref.where}: module {ref.module_name!r} has no {ref.function_name!r}"
            f"{suggest(ref.function_name, public)}"
        )
    if not callable(function):
        raise JobError(f"{ref.where}: {ref.target} is a {type(function).__name__}, not a function")
    return function  # type: ignore[no-any-return]


def call_factory(ref: FactoryRef, base_dir: Path) -> Any:
    """Resolve and call a factory with its kwargs; a TypeError from the call names the factory."""
    function = resolve_factory(ref, base_dir)
    try:
        return function(**ref.kwargs)
    except TypeError as error:
        if ref.kwargs and "argument" in str(error):
            raise JobError(f"{ref.where}: {ref.target}: {error}") from error
        raise


def _import(ref: FactoryRef, base_dir: Path) -> Any:
    name = ref.module_name
    if name.endswith(".py"):
        return _import_file(ref, (base_dir / name).resolve())
    folder = str(base_dir)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        # Only "this module does not exist" is the job's fault; a missing import *inside*
        # the module is the factory's bug and keeps its traceback.
        missing = error.name or ""
        if name == missing or name.startswith(missing + "."):
            raise JobError(
                f"{ref.where}: cannot import module {name!r} (looked in {folder} and sys.path)"
            ) from None
        raise


def _import_file(ref: FactoryRef, path: Path) -> Any:
    if not path.is_file():
        raise JobError(f"{ref.where}: no such file {str(path)!r}")
    module_name = f"_trainer_job_{path.stem}_{abs(hash(path)) % 10**8}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise JobError(f"{ref.where}: cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
