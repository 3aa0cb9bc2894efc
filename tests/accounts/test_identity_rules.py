"""Identity rules ID-1 (NIR key, Corsica) and ID-2 (RPPS Luhn, TRE_G15 professions)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from carnet.accounts import rules

nir_parts = st.tuples(
    st.sampled_from([1, 2]),
    st.integers(0, 99),
    st.integers(1, 12),
    st.sampled_from(["75", "69", "2A", "2B", "13", "97"]),
    st.integers(1, 999),
    st.integers(1, 999),
)


@given(nir_parts)
def test_id1_built_nirs_are_valid(parts: tuple[int, int, int, str, int, int]) -> None:
    nir = rules.make_nir(*parts)
    assert len(nir) == 15
    assert rules.is_valid_nir(nir), nir


@given(nir_parts, st.integers(1, 96))
def test_id1_any_other_key_is_refused(parts: tuple[int, int, int, str, int, int], shift: int) -> None:
    nir = rules.make_nir(*parts)
    wrong_key = (int(nir[13:]) + shift - 1) % 97 + 1
    if wrong_key == int(nir[13:]):
        return
    assert rules.nir_problem(nir[:13] + f"{wrong_key:02d}") == (
        "the NIR key does not match (97 minus the number modulo 97)"
    )


@given(nir_parts, st.integers(0, 12), st.sampled_from("0123456789"))
def test_id1_a_mistyped_digit_is_caught(
    parts: tuple[int, int, int, str, int, int], position: int, digit: str
) -> None:
    nir = rules.make_nir(*parts)
    if nir[position] == digit or nir[position] in "AB" or (position in (5, 6) and "2" in nir[5:7]):
        return
    typo = nir[:position] + digit + nir[position + 1 :]
    # A single changed digit always changes the number mod 97, so the key no longer matches.
    assert not rules.is_valid_nir(typo)


def test_id1_key_known_example() -> None:
    # 1 85 05 78 006 084, key 97 - (1850578006084 mod 97) = 91
    assert rules.nir_key("1850578006084") == 97 - (1850578006084 % 97)
    assert rules.is_valid_nir("1 85 05 78 006 084 " + f"{rules.nir_key('1850578006084'):02d}")


def test_id1_corsica_reads_2a_as_19_and_2b_as_18() -> None:
    assert rules.nir_key("185052A006084") == 97 - (1850519006084 % 97)
    assert rules.nir_key("185052B006084") == 97 - (1850518006084 % 97)


def test_id1_shapes_are_explained() -> None:
    assert "15" in (rules.nir_problem("12345") or "")
    assert "digits" in (rules.nir_problem("9850578006084XX") or "")


@given(st.integers(0, 9_999_999_999))
def test_id2_built_rpps_pass_luhn(body: int) -> None:
    rpps = rules.make_rpps(body)
    assert len(rpps) == 11
    assert rules.rpps_problem(rpps) is None


@given(st.integers(0, 9_999_999_999), st.integers(1, 9))
def test_id2_a_wrong_check_digit_is_refused(body: int, shift: int) -> None:
    rpps = rules.make_rpps(body)
    wrong = rpps[:10] + str((int(rpps[10]) + shift) % 10)
    assert rules.rpps_problem(wrong) == "the RPPS check digit (Luhn) does not match"


def test_id2_rpps_shape_and_professions() -> None:
    assert rules.rpps_problem("1234") == "an RPPS number has exactly 11 digits"
    assert rules.profession_problem("10") is None
    assert "unknown profession code" in (rules.profession_problem("99") or "")
