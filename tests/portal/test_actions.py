"""Every action Carnet records has plain words in the holder's history (ACC-8, issue 16): the
sources are scanned for action codes ("domain.verb" strings), so a new action without words
fails here rather than reaching a page as a raw code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from carnet.portal import actions
from carnet.portal.i18n import Formatter

SOURCES = Path(__file__).resolve().parents[2] / "src" / "carnet"
CODE = re.compile(r"^[a-z][a-z-]*\.[a-z][a-z-]*$")
# Dotted strings the scan meets that name something else than an audit action.
NOT_ACTIONS = frozenset(
    {
        "account.closed",  # notification kinds, passed by position
        "account.notice",
        "account.suspended",
        "favicon.png",  # the API docs' assets (carnet.api_docs)
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "auth.recovery-code",
        "account.objection-decided",
        "family.caregiver-invitation",
        "family.representative-invitation",
        "audit.anchors",  # file extensions of the audit anchors
        "audit.group",
        "documents.change",  # resolve_space actions and API scopes
        "documents.delete",
        "documents.read",
        "documents.upload",
        "messages.read",
        "dt.datetime",  # a type named in a cast
        "marie.curie",  # an example user name
    }
)
# Calls whose first argument is a name of another kind (a job, a foreign key, a route's rule, a
# logger, a configuration option); `kind=` names a notification, tuples are cache keys.
OTHER_NAMES = frozenset(
    {"job", "ForeignKey", "acting_on", "acting_page", "getLogger", "set_main_option"}
)
# File names, table columns ("holders.id") and FHIR search parameters ("patient.identifier").
OTHER_SUFFIXES = (".html", ".csv", ".key", ".py", ".json", ".xml", ".db", ".id", ".identifier")


def _skipped(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "kind":
            skipped.add(id(node.value))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in OTHER_NAMES:
                skipped.add(id(node.args[0]))
        elif isinstance(node, ast.Tuple):
            skipped.update(id(element) for element in node.elts)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.endswith("KIND") for t in node.targets
        ):
            skipped.add(id(node.value))
    return skipped


def recorded_codes() -> set[str]:
    found: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _skipped(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and CODE.match(node.value)
                and id(node) not in skipped
                and not node.value.endswith(OTHER_SUFFIXES)
                and not node.value.startswith(("carnet.", "uvicorn.", "http.", "sqlalchemy."))
            ):
                found.add(node.value)
    return found - NOT_ACTIONS


def test_every_action_code_in_the_sources_has_words() -> None:
    codes = recorded_codes()
    # The scan finds the actions of the issue (it would pass vacuously otherwise).
    assert {"message.list", "agenda.read", "timeline.read", "profile.read"} <= codes
    assert sorted(code for code in codes if not actions.known(code)) == []


def test_refusals_and_old_codes_are_said_in_words_never_as_codes() -> None:
    french, english = Formatter("fr"), Formatter("en")
    assert actions.label(french, "message.list") == "A consulté la liste des conversations"
    assert actions.label(english, "message.list") == "Read the list of conversations"
    assert actions.label(french, "agenda.settings-read-denied") == (
        "A consulté les réglages de l'agenda (refusé)"
    )
    assert actions.label(english, "agenda.settings-read-denied") == (
        "Read the agenda settings (refused)"
    )
    assert actions.label(french, "agenda.retired") == "Action dans l'agenda"
    assert actions.label(english, "nothing.known") == "Other action in Carnet"
