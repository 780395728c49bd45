"""Loading the catalog from ``cascade.yaml``, with errors that name the file and the bad key.

Which file: the ``path`` argument, else the ``CASCADE_CONFIG`` environment variable, else
``./cascade.yaml`` if there is one, else the example catalog packaged with cascade. Which
profile: the ``profile`` argument, else ``CASCADE_PROFILE`` (empty means none).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from broker.jobs import format_validation_error
from broker.pipelines.graph import PipelineError, named_pipelines
from routing.catalog import Catalog, UnknownNameError

__all__ = [
    "CONFIG_ENV",
    "PIPELINES_KEY",
    "PROFILE_ENV",
    "CatalogError",
    "load_catalog",
    "load_pipelines",
    "resolve_catalog_path",
]

CONFIG_ENV = "CASCADE_CONFIG"
PROFILE_ENV = "CASCADE_PROFILE"
_LOCAL_FILE = "cascade.yaml"
_ROOT_PREFIX = "(root): "
# The catalog file's section of named pipelines (broker/pipelines/), checked on every load.
PIPELINES_KEY = "pipelines"


class CatalogError(Exception):
    """The catalog file is missing, is not YAML, or does not describe a valid catalog."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a repeated key, which plain YAML loading silently drops."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def resolve_catalog_path(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Path | Traversable:
    """The catalog file to read, by the precedence in the module docstring."""
    env = os.environ if environ is None else environ
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path(_LOCAL_FILE)
    if local.is_file():
        return local
    return resources.files("broker").joinpath("cascade.yaml")


def _read_yaml(source: Path | Traversable) -> Any:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"{source}: catalog file not found") from None
    except OSError as error:
        raise CatalogError(f"{source}: cannot read the catalog file: {error}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = error.problem or error.context or "invalid YAML"
        raise CatalogError(f"{source}: YAML syntax error at {where}: {problem}") from None
    except yaml.YAMLError as error:
        raise CatalogError(f"{source}: YAML syntax error: {error}") from None


def _validate(source: Path | Traversable, data: Any) -> Catalog:
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise CatalogError(
            f"{source}: a catalog is a mapping with providers, models and tiers; found {found}"
        )
    data = {key: value for key, value in data.items() if key != PIPELINES_KEY}
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as error:
        lines = format_validation_error(error, data).splitlines()
        # The cross-reference problems are raised for the whole catalog but each line already
        # leads with its own path, so the "(root)" location adds nothing.
        lines = [line.removeprefix(_ROOT_PREFIX) for line in lines]
        details = "\n".join(f"  {line}" for line in lines)
        raise CatalogError(f"{source}: invalid catalog:\n{details}") from None
    return catalog


def _pipelines(source: Path | Traversable, data: Any, tiers: Iterable[str]) -> dict[str, Any]:
    section = data.get(PIPELINES_KEY) if isinstance(data, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise CatalogError(f"{source}: {PIPELINES_KEY}: a mapping of name -> pipeline")
    try:
        return named_pipelines(section, tiers)
    except PipelineError as error:
        details = "\n".join(f"  {line}" for line in str(error).splitlines())
        raise CatalogError(f"{source}: invalid pipeline:\n{details}") from None


def load_pipelines(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The catalog file's named pipelines (``pipelines:``), checked like the catalog."""
    source = resolve_catalog_path(path, os.environ if environ is None else environ)
    data = _read_yaml(source)
    return _pipelines(source, data, _validate(source, data).tiers)


def load_catalog(
    path: Path | str | None = None,
    profile: str | None = None,
    *,
    emulator_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Catalog:
    """Read, validate and (if a profile is chosen) apply a profile to the catalog file.

    Its ``pipelines:`` section is checked too (``load_pipelines`` reads it).

    ``emulator_url`` overrides the profile's own (a demo or test runs the emulator on a free port).
    Raises ``CatalogError`` naming the file and, for each problem, the path of the bad key
    (``models[3].price.input: Field required``).
    """
    env = os.environ if environ is None else environ
    source = resolve_catalog_path(path, env)
    data = _read_yaml(source)
    catalog = _validate(source, data)
    _pipelines(source, data, catalog.tiers)
    chosen = profile if profile is not None else env.get(PROFILE_ENV, "")
    if not chosen:
        return catalog
    try:
        return catalog.with_profile(chosen, emulator_url=emulator_url)
    except UnknownNameError as error:
        raise CatalogError(f"{source}: {error}") from None
