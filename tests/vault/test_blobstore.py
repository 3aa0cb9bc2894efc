"""The local blob store: durable writes (temporary file, fsync, rename), random ids, and no way to
reach a file outside the store through a crafted id."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from carnet.errors import NotFound
from carnet.vault.blobstore import LocalBlobStore

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_a_blob_is_stored_under_a_random_hex_id_and_reads_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    first, size = store.put([b"abc", b"", b"def"])
    second, _ = store.put([b"abc", b"def"])
    assert size == 6
    assert HEX32.match(first) and HEX32.match(second)
    assert first != second
    assert b"".join(store.read(first)) == b"abcdef"
    assert sorted(store.ids()) == sorted([first, second])
    path = tmp_path / "blobs" / first[:2] / first[2:4] / first
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert store.leftovers() == []


def test_ids_do_not_follow_each_other(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    ids = [store.put([b"x"])[0] for _ in range(20)]
    assert len(set(ids)) == 20
    assert len({i[:8] for i in ids}) == 20, "not a counter or a timestamp prefix"


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    def failing():  # type: ignore[no-untyped-def]
        yield b"first part"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.put(failing())
    assert list(store.ids()) == []
    assert store.leftovers() == []


def test_a_crash_mid_write_leaves_only_a_part_file(tmp_path: Path) -> None:
    """A killed process never leaves a half blob under a real id, only a `.part` in tmp/."""
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    done, _ = store.put([b"complete"])
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from carnet.vault.blobstore import LocalBlobStore

        def chunks():
            yield b"half of a document"
            os._exit(9)  # the process dies: no cleanup, no rename

        LocalBlobStore(Path({str(root)!r})).put(chunks())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert result.returncode == 9, result.stderr.decode()
    leftovers = store.leftovers()
    assert len(leftovers) == 1
    assert leftovers[0].name.endswith(".part")
    assert leftovers[0].parent == root / "tmp"
    assert list(store.ids()) == [done]
    assert leftovers[0].name.removesuffix(".part") not in list(store.ids())


@pytest.mark.parametrize(
    "blob_id",
    [
        "../x",
        "../../etc/passwd",
        "..",
        "",
        "tmp",
        "/etc/passwd",
        "a" * 31,
        "a" * 33,
        "A" * 32,
        "g" * 32,
        "../" + "a" * 29,
        "a" * 16 + "/" + "a" * 15,
    ],
)
def test_an_invalid_id_is_not_found_and_never_a_path(tmp_path: Path, blob_id: str) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    store.put([b"something"])
    (tmp_path / "x").write_bytes(b"outside the store")
    with pytest.raises(NotFound):
        store.open(blob_id)
    with pytest.raises(NotFound):
        list(store.read(blob_id))
    with pytest.raises(NotFound):
        store.delete(blob_id)
    assert (tmp_path / "x").exists()


def test_an_unknown_valid_id_is_not_found(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.open("0" * 32)
    assert store.delete("0" * 32) is False
    assert list(store.ids()) == []


def test_deleting_a_blob_removes_it(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    blob_id, _ = store.put([b"data"])
    assert store.delete(blob_id) is True
    assert list(store.ids()) == []
    with pytest.raises(NotFound):
        store.open(blob_id)
