"""The one registry of domains: what each contributes to the app, Alembic, the jobs runner and the CLI.

Each domain package declares itself once, in its `domain.py` (`DOMAIN = Domain(...)`), with import
strings, so that a reader imports only what it needs (`carnet --help` never loads the web app).
This module finds the declarations (every `carnet.<package>.domain`, in the packages' alphabetical
order) and is the only place that imports them: the base (`carnet.db`) knows no domain.

To add a domain: give its package a `domain.py`; `tests/core/test_registry.py` fails when a
package holds models, routers, jobs or commands that its declaration leaves out.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI


@dataclass(frozen=True)
class Domain:
    """What one domain package contributes, as import strings.

    `routers` maps an inclusion order (unique across domains: route matching follows it) to
    "module:attribute", an `APIRouter` or an installer `fn(app)`; `models` and `jobs` are modules
    imported for their side effect (tables on `Base.metadata`, `@job` registrations, run in the
    order the domains and their lists give); `commands` maps each module with `register(app)` to
    the commands it adds, name -> one-line help, so that `carnet --help` lists them without
    importing any and a run imports only the module of the command it runs. A bare tuple of
    modules is still read, but then every listing of the commands imports those modules.
    """

    name: str
    routers: Mapping[int, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    commands: Mapping[str, Mapping[str, str]] | tuple[str, ...] = field(default_factory=dict)


# The core's own routes: not a domain package, so declared here.
CORE = Domain(
    name="core",
    routers={0: "carnet.health:router", 1: "carnet.api_docs:router", 2: "carnet.metrics:install"},
)


@functools.cache
def domains() -> tuple[Domain, ...]:
    """The core, then every package of `carnet` that has a `domain.py`, alphabetically."""
    root = Path(__file__).parent
    found = [CORE]
    for module in sorted(pkgutil.iter_modules([str(root)]), key=lambda m: m.name):
        if module.ispkg and (root / module.name / "domain.py").is_file():
            declared = importlib.import_module(f"carnet.{module.name}.domain").DOMAIN
            if not isinstance(declared, Domain):
                raise TypeError(f"carnet.{module.name}.domain.DOMAIN is not a Domain")
            found.append(declared)
    return tuple(found)


def routers() -> list[str]:
    """Every declared router target, in inclusion order."""
    ordered: dict[int, str] = {}
    for domain in domains():
        for order, target in domain.routers.items():
            if order in ordered:
                raise ValueError(f"router order {order} declared twice: {ordered[order]}, {target}")
            ordered[order] = target
    return [ordered[order] for order in sorted(ordered)]


def include_routers(app: FastAPI) -> None:
    """Include every domain's routers into `app`, in the declared order."""
    from fastapi import APIRouter

    for target in routers():
        found = _resolve(target)
        if isinstance(found, APIRouter):
            app.include_router(found)
        else:
            found(app)


def load_models() -> None:
    """Import every domain's models, so that `Base.metadata` holds all the tables."""
    for domain in domains():
        for name in domain.models:
            importlib.import_module(name)


def load_jobs() -> None:
    """Import every module that registers jobs; the import order is the order a pass runs them."""
    for domain in domains():
        for name in domain.jobs:
            importlib.import_module(name)


def commands() -> dict[str, tuple[str, str]]:
    """Every command declared with its help: name -> (the module that registers it, its help)."""
    found: dict[str, tuple[str, str]] = {}
    for domain in domains():
        if not isinstance(domain.commands, Mapping):
            continue
        for module, declared in domain.commands.items():
            for name, summary in declared.items():
                if name in found:
                    raise ValueError(f"command {name!r} declared twice: {found[name][0]}, {module}")
                found[name] = (module, summary)
    return found


def unlisted_command_modules() -> list[str]:
    """The command modules declared without their commands' names: only importing them tells."""
    return [
        module
        for domain in domains()
        if not isinstance(domain.commands, Mapping)
        for module in domain.commands
    ]


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
