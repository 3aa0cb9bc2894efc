"""A run of `carnet` imports what its command needs (issue 14): `carnet --help` lists the domains'
commands from their declarations, and `carnet account show` reads a space without the web app, the
PDF letters or the demo world. These tests compare module sets, never times: what a run imports is
what it pays to start, and a time would depend on the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from carnet import registry
from tests.factories import make_holder

# Run `carnet ARGS…` in a fresh interpreter and write the modules it imported to a file.
_PROBE = """
import json, sys
from carnet.cli import main
output, args = sys.argv[1], sys.argv[2:]
status = main(args) if args else 0
with open(output, "w", encoding="utf-8") as file:
    json.dump({"status": status, "modules": sorted(sys.modules)}, file)
"""

# What no listing and no reading of a space needs: the web stack, the app, the portal's pages,
# the PDF letters, the demo world, the documents.
_HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "fpdf",
    "carnet.app",
    "carnet.portal.views",
    "carnet.demo.service",
    "carnet.documents.service",
    "carnet.documents.models",
)
# What reading one space does not need either: changing a space's state, purging it, e-mail.
_WRITERS = (
    "carnet.accounts.lifecycle",
    "carnet.accounts.purge",
    "carnet.accounts.letters",
    "carnet.notifications.service",
    "carnet.auth.service",
)
# The command line's own modules: the rest of Carnet a listing may import is declarations.
_SHELL = {"carnet", "carnet.cli", "carnet.cli_support", "carnet.errors", "carnet.registry"}


def _run(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    output = tmp_path / "modules.json"
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(output), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert output.is_file(), done.stderr
    found = json.loads(output.read_text(encoding="utf-8"))
    return found["status"], set(found["modules"])


def _within(modules: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(f"{p}.") for p in prefixes)}


def _declarations_only(modules: set[str]) -> set[str]:
    """Carnet's modules in `modules` other than the command line's and the domains' declarations."""
    return {
        m
        for m in modules
        if m.startswith("carnet.") and m not in _SHELL
        and not (m.count(".") == 1 or m.endswith(".domain"))
    }


def test_importing_the_command_line_imports_no_domain(tmp_path: Path) -> None:
    status, modules = _run(tmp_path)
    assert status == 0
    assert _within(modules, (*_HEAVY, "sqlalchemy", "pydantic")) == set()
    assert {m for m in modules if m.startswith("carnet")} <= _SHELL


def test_help_imports_the_declarations_only(tmp_path: Path) -> None:
    """Beyond them, only the command modules of a domain that declares them bare (without their
    help lines) and what they import: their commands are known by importing them."""
    status, modules = _run(tmp_path, "--help")
    assert status == 0
    needed = _imported_by(tmp_path, registry.unlisted_command_modules())
    assert _within(modules - needed, (*_HEAVY, "sqlalchemy")) == set()
    assert _declarations_only(modules - needed) == set()
    assert _within(modules, ("fpdf", "carnet.app", "carnet.portal.views", "carnet.demo.service")) == set()


def _imported_by(tmp_path: Path, names: list[str]) -> set[str]:
    """The modules that importing `names` (and the interpreter's start) brings in."""
    output = tmp_path / "imported.json"
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n    importlib.import_module(name)\n"
        f"json.dump(sorted(sys.modules), open({str(output)!r}, 'w', encoding='utf-8'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    return set(json.loads(output.read_text(encoding="utf-8")))


def test_help_names_every_declared_command(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run_cli("--help")
    assert status == 0
    listed = {line.split()[1] for line in out.splitlines() if line.startswith("│ ")}
    assert set(registry.commands()) <= listed
    assert {"migrate", "serve", "config", "fsck", "import-dmp"} <= listed


def test_a_group_help_imports_its_module_only(tmp_path: Path) -> None:
    status, modules = _run(tmp_path, "account", "--help")
    assert status == 0
    assert "carnet.accounts.cli" in modules
    assert _within(modules, (*_HEAVY, *_WRITERS, "carnet.documents.cli", "carnet.apps.cli")) == set()


def test_account_show_reads_a_space_without_the_web_app_or_letters(
    tmp_path: Path, database  # type: ignore[no-untyped-def]
) -> None:
    with database.transaction() as session:
        nir = make_holder(session).nir
    status, modules = _run(tmp_path, "account", "show", nir)
    assert status == 0
    assert _within(modules, (*_HEAVY, *_WRITERS)) == set()


def test_declared_commands_are_what_their_modules_register() -> None:
    """The help line `carnet --help` shows is the first paragraph of the command's own help."""
    from carnet.cli import load_commands

    modules = {module for module, _summary in registry.commands().values()}
    for module in modules:
        declared = {n: s for n, (m, s) in registry.commands().items() if m == module}
        found = load_commands(module)
        assert set(found) == set(declared), module
        for name, command in found.items():
            first = (command.short_help or command.help or "").split("\n\n")[0]
            assert " ".join(first.split()) == declared[name], name
