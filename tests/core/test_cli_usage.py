"""How `carnet` answers an operator (issue 16): a usage mistake is one line and exit status 2,
never a traceback; `--version` prints the version; the help shows no type beside a flag; a file
progress bar ends at 100% on its own line; `account show` names the person a holder represents."""

from __future__ import annotations

import pytest

from carnet import __version__
from carnet.accounts import rules
from carnet.accounts.models import Representation
from tests.factories import make_holder


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nosuch",), "No such command 'nosuch'. See 'carnet --help'."),
        (("acount", "show"), "Did you mean 'account'?"),
        (("token", "--holder"), "Option '--holder' requires an argument."),
        (("migrate", "--bogus"), "No such option: --bogus. See 'carnet migrate --help'."),
        (("account", "show"), "Missing argument 'nir'. See 'carnet account show --help'."),
        (("serve", "--port", "abc"), "Invalid value for '--port'"),
        (("account", "nosuch"), "No such command 'nosuch'. See 'carnet account --help'."),
    ],
)
def test_a_usage_mistake_is_one_line_and_status_2(run_cli, args, says) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli(*args)
    assert status == 2
    assert out == ""
    assert err.startswith("Error: ") and says in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "Usage:" not in err


def test_version_prints_the_package_version(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("--version")
    assert (status, out.strip(), err) == (0, f"carnet {__version__}", "")


@pytest.mark.parametrize(
    "args", [("--help",), ("serve", "--help"), ("config", "show", "--help"), ("account", "--help")]
)
def test_help_shows_no_type_beside_a_flag(run_cli, args) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run_cli(*args)
    assert status == 0
    assert "--help" in out
    assert "<bool>" not in out
    if args[0] == "serve":
        assert "<int>" in out  # options that take a value still show its type


def test_the_progress_bar_ends_at_100_percent_on_its_own_line(run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "nir,birth_name,first_names,birth_date,sex,birth_place_insee,email,phone,postal_address,"
        "representative_nir,second_representative_nir,deceased_on\n"
        "279012B03301286,CASANOVA,Maria,1979-01-15,F,2B033,,,,,,\n",
        encoding="utf-8",
    )
    status, out, err = run_cli("provision", str(roster), "--no-letters")
    assert status == 0, err
    bar = [line for line in err.splitlines() if line.startswith("roster")]
    assert len(bar) == 1 and "100%" in bar[0] and "1 rows" in bar[0]
    assert err.endswith("\n")
    assert out.startswith("Roster: ")  # the summary follows on stdout


def test_account_show_names_the_person_represented(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session:
        parent = make_holder(session, state=rules.ACTIVE)
        child = make_holder(session, first_names="Léa", birth_name="MARTIN")
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
        parent_nir, child_nir, child_id = parent.nir, child.nir, str(child.id)
    status, out, err = run_cli("account", "show", parent_nir)
    assert status == 0, err
    line = next(line for line in out.splitlines() if "represents" in line)
    assert f"Léa MARTIN, {child_nir} (managing) [accepted]" in line
    assert child_id not in out
