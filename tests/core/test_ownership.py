"""Each domain owns its tables (issue 13, item 1): only a domain's own modules query or write its
models; the others call its service functions. An AST check of every module under
`src/carnet/<domain>/`: a model class imported from another domain's `carnet.<other>.models` and
used in `select`, `insert`, `update`, `delete`, `session.get`, `session.query`, a `.where`/`.filter`/
`.join`/`.order_by` clause, an `aliased(...)`, or built (`Model(...)`, a write), is a violation.

`migrations/` (the schema's history) and `demo/` (the demo world builds every domain's rows on
purpose) are not checked, nor the tests; modules outside a domain package (`carnet/*.py`) neither.

The sweep is not finished: `ALLOWED` is a ratchet of the violations left, each with where it goes.
The check fails on a violation not listed, and on a listed one that no longer occurs, so the list
only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "carnet"
NOT_CHECKED = {"migrations", "demo"}
# Calls whose arguments read or write the tables of the models named in them.
QUERYING = {
    "select", "insert", "update", "delete", "get", "query", "where", "filter", "filter_by",
    "join", "outerjoin", "order_by", "group_by", "having", "aliased",
}  # fmt: skip

# What is left is joined in one statement with the caller's own tables (a lock, a hot path, a
# page of pairs): a loader would add a statement, so each waits for a read model of the owning
# domain that keeps it one.
JOINED = "joined with the care relationships in one statement: to an accounts read model"
HOT = "the one statement of a hot path (actor, token, switches): to an accounts read model"
LOCKED = "joined to the rows it locks (FOR UPDATE SKIP LOCKED): to an accounts read model"

ALLOWED: dict[tuple[str, str], str] = {
    ("carnet.access.care_team", "Professional"): JOINED,
    ("carnet.access.service", "Holder"): HOT,
    ("carnet.access.service", "Professional"): HOT,
    ("carnet.agenda.jobs", "Holder"): LOCKED,
    ("carnet.documents.jobs", "Holder"): LOCKED,
}


def foreign_models(tree: ast.Module, domain: str) -> dict[str, tuple[str, str]]:
    """Local name -> (model, owning domain) of the classes imported from another domain's models."""
    names: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if len(parts) == 3 and parts[0] == "carnet" and parts[2] == "models":
                if parts[1] != domain:
                    for alias in node.names:
                        names[alias.asname or alias.name] = (alias.name, parts[1])
    return names


def uses(source: str, domain: str) -> dict[tuple[str, str], list[int]]:
    """(model, owning domain) -> the lines where this module queries or builds it."""
    tree = ast.parse(source)
    names = foreign_models(tree, domain)
    found: dict[tuple[str, str], list[int]] = {}
    if not names:
        return found
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:  # Model(...): a write
            found.setdefault(names[func.id], []).append(node.lineno)
            continue
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called not in QUERYING:
            continue
        arguments = node.args[:1] if called == "get" else node.args
        for argument in [*arguments, *(k.value for k in node.keywords)]:
            for sub in ast.walk(argument):
                if isinstance(sub, ast.Name) and sub.id in names:
                    found.setdefault(names[sub.id], []).append(node.lineno)
    return {key: sorted(set(lines)) for key, lines in found.items()}


def violations() -> dict[tuple[str, str], str]:
    """(module, model) -> "module: Model (domain) at lines …" for every module of every domain."""
    result: dict[tuple[str, str], str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).parts
        if len(parts) < 2 or parts[0] in NOT_CHECKED:
            continue
        module = ".".join(("carnet", *parts)).removesuffix(".py")
        for (model, owner), lines in uses(path.read_text(encoding="utf-8"), parts[0]).items():
            where = ", ".join(str(n) for n in lines)
            result[(module, model)] = f"{module}: {model} ({owner}) at lines {where}"
    return result


def test_no_domain_queries_another_domains_tables() -> None:
    """A module querying or writing another domain's model calls that domain's service instead."""
    found = violations()
    new = [found[key] for key in sorted(found) if key not in ALLOWED]
    assert new == [], "call the owning domain's service:\n" + "\n".join(new)


def test_the_allowlist_only_shrinks() -> None:
    """A violation swept away leaves the list with it, so it cannot come back unnoticed."""
    found = violations()
    gone = [
        f"{module}: {model}" for module, model in sorted(ALLOWED) if (module, model) not in found
    ]
    assert gone == [], "remove from ALLOWED:\n" + "\n".join(gone)


def test_the_check_sees_each_way_of_reaching_a_table() -> None:
    """The scanner can fail: each querying form and a built row are caught, the own domain not."""
    source = (
        "from carnet.accounts.models import Holder, Professional as Pro\n"
        "from carnet.documents.models import Document\n"
        "a = session.get(Holder, x)\n"
        "b = select(Document.id).where(Pro.rpps == r)\n"
        "c = session.query(Holder)\n"
        "d = delete(Document)\n"
        "e = Pro(rpps=r)\n"
        "f = holders.get(key)\n"
    )
    assert uses(source, "export") == {
        ("Holder", "accounts"): [3, 5],
        ("Document", "documents"): [4, 6],
        ("Professional", "accounts"): [4, 7],
    }
    assert uses(source, "accounts") == {("Document", "documents"): [4, 6]}
