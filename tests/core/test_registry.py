"""The registry of domains (`carnet.registry`) is the one list the app, Alembic, the jobs runner
and the CLI read: a domain's models, routers, jobs or commands it leaves out would silently miss a
table, a route, a scheduled job or a command. These tests walk the source tree and fail when one
is not declared."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from carnet import registry

SOURCE = Path(registry.__file__).parent
_ROUTER = re.compile(r"^router\s*[:=]", re.MULTILINE)
_JOB = re.compile(r"^@job\(", re.MULTILINE)
_COMMANDS = re.compile(r"^def register\(app\b", re.MULTILINE)


def _modules() -> dict[str, str]:
    """Every module of `carnet`, by dotted name, with its source text."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path.read_text(encoding="utf-8")
    return found


def _declared(kind: str) -> set[str]:
    return {name for domain in registry.domains() for name in getattr(domain, kind)}


def test_every_models_module_is_declared() -> None:
    models = {name for name in _modules() if name.endswith(".models")}
    assert models, "the walk found no models module"
    assert models - _declared("models") == set()


def test_every_job_module_is_declared() -> None:
    jobs = {name for name, text in _modules().items() if _JOB.search(text)}
    assert jobs, "the walk found no job module"
    assert jobs - _declared("jobs") == set()


def test_every_command_module_is_declared() -> None:
    commands = {name for name, text in _modules().items() if _COMMANDS.search(text)}
    assert commands, "the walk found no command module"
    assert commands - _declared("commands") == set()


def test_every_router_is_included_in_the_app(app: FastAPI) -> None:
    """A module's `router` is declared directly or through a declared router that includes it."""
    served = {
        context.original_route.endpoint
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    }
    modules = [name for name, text in _modules().items() if _ROUTER.search(text)]
    assert modules, "the walk found no router module"
    missing: list[str] = []
    for name in modules:
        router: Any = importlib.import_module(name).router
        routes = [
            context.original_route
            for context in iter_route_contexts(router.routes)
            if isinstance(context.original_route, APIRoute)
        ]
        if not routes or any(route.endpoint not in served for route in routes):
            missing.append(name)
    assert missing == []


def test_each_domain_declares_only_its_own_modules() -> None:
    """A declaration names modules of its own package, and every one of them imports."""
    for domain in registry.domains()[1:]:
        names = [*domain.models, *domain.jobs, *domain.commands]
        names += [target.partition(":")[0] for target in domain.routers.values()]
        for name in names:
            assert name == f"carnet.{domain.name}" or name.startswith(f"carnet.{domain.name}.")
            importlib.import_module(name)


def test_router_orders_are_unique() -> None:
    orders = [order for domain in registry.domains() for order in domain.routers]
    assert len(orders) == len(set(orders))
    assert registry.routers()[0] == "carnet.health:router"
