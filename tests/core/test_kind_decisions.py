"""Nothing outside access/ branches on the principal's kind to allow or refuse (issue 13, item 3).

An AST check of every module under `src/carnet/<domain>/` but `access/` (the decision point),
`auth/` (who the principal is), `demo/` and `migrations/`: a comparison of a `.kind` with a
`PrincipalKind` member (`is`, `is not`, `==`, `!=`, `in`, `not in`) is listed here, by module and
function, with why it is no access decision. A decision made on the kind goes to a pure
`decide_*` of `access.rules` instead (as `decide_space_choice`, `decide_app_consent`,
`decide_message_send_fhir`, `decide_export` do), which the site calls.

The check fails on a comparison not listed, and on a listed one that no longer occurs, so a new
branch on the kind is looked at before it lands.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "carnet"
NOT_CHECKED = {"access", "auth", "demo", "migrations"}

LABEL = "a label or a side to show, chosen by kind: nothing is allowed or refused on it"
AUDIT = "what the audit entry records about the actor: nothing is allowed or refused on it"
PATH = (
    "which way the space is reached: the holder side names it (`resolve_space`, REP-1…REP-5), "
    "the others get none and the reading service decides through `access.rules`"
)

KNOWN: dict[tuple[str, str], str] = {
    ("carnet.accounts.family.guardians", "_operator_mode"): AUDIT,
    ("carnet.documents.fhir_service", "search_documents"): (
        "the patient searched by default (the holder's own space): the search itself is narrowed "
        "by `access.filters`, and a missing patient is a 400 for everyone"
    ),
    ("carnet.messaging.api", "_space_of"): PATH,
    ("carnet.messaging.context", "party"): "which party of the conversation the caller is",
    ("carnet.messaging.conversations", "_relation"): "how the author signs a message (REP-4)",
    ("carnet.messaging.fhir", "_api_base"): LABEL,
    ("carnet.messaging.fhir", "_space"): PATH,
    ("carnet.portal.views.login", "logout"): AUDIT,
    ("carnet.portal.views.professional", "_home_page"): LABEL,
    ("carnet.portal.views.professional", "_is_pro"): (
        "whether the login form is shown or its home page: the pages are guarded by "
        "`access.routes.portal_session`"
    ),
    ("carnet.portal.views.professional", "_patient_page"): LABEL,
    ("carnet.portal.views.professional", "_relation"): (
        "the actor's relation as a fact for `access.rules` (a regulator or a professional), "
        "which then decides"
    ),
    ("carnet.portal.web", "_default_shell"): "the navigation shown: a professional's or a holder's",
}


def _mentions_kind(node: ast.expr) -> bool:
    return any(
        isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Name)
        and sub.value.id == "PrincipalKind"
        for sub in ast.walk(node)
    )


def _is_kind(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "kind"


def comparisons(source: str) -> dict[str, list[int]]:
    """Enclosing function -> the lines where a `.kind` is compared with a `PrincipalKind` member."""
    tree = ast.parse(source)
    found: dict[str, list[int]] = {}

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name
            if isinstance(child, ast.Compare):
                sides = [child.left, *child.comparators]
                if any(_is_kind(s) for s in sides) and any(_mentions_kind(s) for s in sides):
                    found.setdefault(function, []).append(child.lineno)
            visit(child, inner)

    visit(tree, "<module>")
    return found


def branches() -> dict[tuple[str, str], str]:
    """(module, function) -> "module.function at lines …" for every checked module."""
    result: dict[tuple[str, str], str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).parts
        if len(parts) < 2 or parts[0] in NOT_CHECKED:
            continue
        module = ".".join(("carnet", *parts)).removesuffix(".py")
        for function, lines in comparisons(path.read_text(encoding="utf-8")).items():
            result[(module, function)] = (
                f"{module}.{function} at lines {', '.join(str(n) for n in lines)}"
            )
    return result


def test_no_branch_on_the_kind_outside_access() -> None:
    """A new comparison of the principal's kind is either an `access.rules` decision or listed."""
    found = branches()
    new = [found[key] for key in sorted(found) if key not in KNOWN]
    assert new == [], "decide in access.rules (or list it with why it decides nothing):\n" + (
        "\n".join(new)
    )


def test_the_list_only_shrinks() -> None:
    found = branches()
    gone = [
        f"{module}.{function}"
        for module, function in sorted(KNOWN)
        if (module, function) not in found
    ]
    assert gone == [], "remove from KNOWN:\n" + "\n".join(gone)


def test_the_check_sees_each_form_of_comparison() -> None:
    """The scanner can fail: each operator is caught, in its function; other kinds are not."""
    source = (
        "def a(p):\n"
        "    if p.kind is PrincipalKind.HOLDER:\n"
        "        raise Forbidden()\n"
        "def b(ctx):\n"
        "    return ctx.principal.kind in (PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR)\n"
        "def c(p):\n"
        "    ok = p.kind != PrincipalKind.APP\n"
        "    return p.kind.value == 'x' or row.kind == EMERGENCY_CONTACT\n"
        "x = y.kind is not PrincipalKind.SYSTEM\n"
    )
    assert comparisons(source) == {"a": [2], "b": [5], "c": [7], "<module>": [9]}
