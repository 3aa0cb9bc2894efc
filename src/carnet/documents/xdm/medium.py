"""An XDM medium opened without trusting it: a ZIP file or a folder, its index, capped reads.

Member names and URIs with `..`, absolute paths, drive letters or NUL are refused; files are looked
up in an index built beforehand, never through the file system with a name taken from the
metadata; ZIP members are capped in number, size, compression ratio and total bytes read, and
symbolic links are refused (note §1.2, §6.1).
"""

from __future__ import annotations

import os
import re
import stat
import threading
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

METADATA_NAME = "metadata.xml"
XDM_FOLDER = "ihe_xdm"


class MediumError(Exception):
    """The path is not a readable XDM medium (exit status 1 in the CLI)."""


class FileProblem(Exception):
    """One file of a medium cannot be used; the message is a reason fit for the report."""


@dataclass(frozen=True)
class Limits:
    """Caps against zip bombs and oversized media. `for_settings` derives them from DOC-1's
    upload limit; tests pass small ones."""

    max_members: int = 20_000
    max_member_bytes: int = 50 * 1024 * 1024
    max_metadata_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 8 * 1024 * 1024 * 1024
    max_ratio: int = 100
    ratio_floor_bytes: int = 1024 * 1024  # small members compress well legitimately

    @classmethod
    def for_settings(cls, max_upload_bytes: int) -> Limits:
        return cls(max_member_bytes=10 * max_upload_bytes)


def path_problem(name: str) -> str | None:
    """Why `name` (a ZIP member name or a URI) must not be used as a path, or None."""
    if not name or "\x00" in name:
        return "empty name or NUL character"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/"):
        return "absolute path"
    if re.match(r"^[A-Za-z]:", normalized):
        return "drive letter"
    if any(part == ".." for part in normalized.split("/")):
        return "parent segment '..'"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", normalized):
        return "not a relative path"
    return None


def _clean(name: str) -> str:
    """Normalised relative POSIX form of a safe name: `\\` → `/`, no `.` or empty segments."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


@dataclass
class Refusal:
    """A member of the medium that was refused while indexing (never its name: names may say
    who the patient is)."""

    ref: str
    reason: str


class Medium:
    """An XDM medium: an index of its regular files (case-insensitive) and a capped reader."""

    def __init__(self, label: str, limits: Limits) -> None:
        self.label = label
        self.limits = limits
        self.refused: list[Refusal] = []
        self._index: dict[str, str | None] = {}  # casefolded path -> real path (None: ambiguous)
        self._refused_names: dict[str, str] = {}  # casefolded path -> why the member was refused
        self.bytes_read = 0
        self._count_lock = threading.Lock()
        self._xdm_root: str | None = None
        self._files: list[str] | None = None
        self._by_folder: dict[str, list[str]] | None = None

    # Subclasses fill the index through `_add` and `_refuse`, and implement `_size` and `_chunks`.
    def _add(self, real: str) -> None:
        self._files = self._by_folder = None
        key = _clean(real).casefold()
        if key in self._index:
            self._index[key] = None  # two members with the same name: use neither
        else:
            self._index[key] = _clean(real)

    def _refuse(self, ref: str, real: str | None, reason: str) -> None:
        self.refused.append(Refusal(ref, reason))
        if real is not None and path_problem(real) is None:
            self._refused_names[_clean(real).casefold()] = reason

    def files(self) -> list[str]:
        if self._files is None:
            self._files = sorted(v for v in self._index.values() if v is not None)
        return self._files

    def files_under(self, folder: str) -> list[str]:
        """The files inside `folder` (case-insensitive), at any depth."""
        if self._by_folder is None:
            self._by_folder = {}
            for path in self.files():
                parts = path.casefold().split("/")
                for depth in range(1, len(parts)):
                    self._by_folder.setdefault("/".join(parts[:depth]), []).append(path)
        return self._by_folder.get(_clean(folder).casefold(), [])

    def lookup(self, path: str) -> str | None:
        """The real path of `path` (case-insensitive); FileProblem if the name is ambiguous."""
        key = _clean(path).casefold()
        if key in self._refused_names:
            raise FileProblem(f"the file was refused: {self._refused_names[key]}")
        if key not in self._index:
            return None
        real = self._index[key]
        if real is None:
            raise FileProblem("several members of the medium share this file name")
        return real

    def read(self, real: str, cap: int) -> bytes:
        """The bytes of `real`, at most `cap` and within what remains of the total cap; bytes
        are counted as they come, whatever the headers say. Several threads may read at once
        (the import reads in its writer threads): the total is counted under a lock."""
        total_problem = "the medium exceeds the total size cap; stopped reading"
        with self._count_lock:
            remaining_total = self.limits.max_total_bytes - self.bytes_read
        if remaining_total <= 0:
            raise FileProblem(total_problem)
        declared = self._size(real)
        if declared > cap:
            raise FileProblem("the file is larger than the size cap")
        if declared > remaining_total:
            raise FileProblem(total_problem)
        chunks: list[bytes] = []
        size = 0
        for chunk in self._chunks(real):
            size += len(chunk)
            with self._count_lock:
                self.bytes_read += len(chunk)
                over_total = self.bytes_read > self.limits.max_total_bytes
            if size > cap:
                raise FileProblem("the file exceeds the size cap while reading")
            if over_total:
                raise FileProblem(total_problem)
            chunks.append(chunk)
        return b"".join(chunks)

    def _size(self, real: str) -> int:
        raise NotImplementedError

    def _chunks(self, real: str) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        return None

    # The layout (note §1.2).
    def xdm_root(self) -> str:
        """The IHE_XDM folder: at the medium's root, or inside a single wrapping folder."""
        if self._xdm_root is None:
            self._xdm_root = self._find_xdm_root()
        return self._xdm_root

    def _find_xdm_root(self) -> str:
        for depth in (0, 1):
            found = {
                "/".join(parts[: depth + 1])
                for parts in (path.split("/") for path in self.files())
                if len(parts) > depth + 1 and parts[depth].casefold() == XDM_FOLDER
            }
            if len(found) == 1:
                return found.pop()
            if found:
                raise MediumError("not an XDM medium (several IHE_XDM folders)")
        raise MediumError("not an XDM medium (no IHE_XDM folder)")

    def subsets(self) -> list[tuple[str, str]]:
        """(subset folder name, METADATA.XML real path) for every folder directly under IHE_XDM/
        that holds a METADATA.XML, in name order (note §1.2, §6.1 item 1)."""
        xdm = self.xdm_root()
        depth = xdm.count("/") + 1
        found: dict[str, str] = {}
        for path in self.files():
            parts = path.split("/")
            if (
                len(parts) == depth + 2
                and "/".join(parts[:depth]).casefold() == xdm.casefold()
                and parts[-1].casefold() == METADATA_NAME
            ):
                found.setdefault(parts[depth], path)
        if not found:
            raise MediumError("not an XDM medium (no submission set with a METADATA.XML)")
        return sorted(found.items(), key=lambda item: item[0].casefold())


class ZipMedium(Medium):
    def __init__(self, path: Path, limits: Limits) -> None:
        super().__init__(str(path), limits)
        self._open_lock = threading.Lock()
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise MediumError(f"not a readable ZIP file ({type(exc).__name__})") from None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        try:
            infos = self._zip.infolist()
            if len(infos) > limits.max_members:
                raise MediumError(f"too many members in the ZIP (cap {limits.max_members})")
            declared_total = 0
            for number, info in enumerate(infos, start=1):
                problem = self._member_problem(info)
                if problem:
                    self._refuse(f"member:{number}", info.filename, problem)
                    continue
                if info.is_dir():
                    continue
                declared_total += info.file_size
                if declared_total > limits.max_total_bytes:
                    raise MediumError("the ZIP declares more bytes than the total size cap")
                real = _clean(info.filename)
                self._add(real)
                self._infos[real] = info
        except MediumError:
            self._zip.close()
            raise

    def _member_problem(self, info: zipfile.ZipInfo) -> str | None:
        problem = path_problem(info.filename)
        if problem:
            return f"unsafe member name ({problem})"
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            return "symbolic link member"
        if info.is_dir():
            return None
        if info.flag_bits & 0x1:
            return "encrypted member"
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return "unsupported compression method (only stored and deflated are read)"
        if info.file_size > max(self.limits.max_member_bytes, self.limits.max_metadata_bytes):
            return "member larger than the size cap"
        if (
            info.file_size > self.limits.ratio_floor_bytes
            and info.file_size > self.limits.max_ratio * max(info.compress_size, 1)
        ):
            return f"compression ratio above {self.limits.max_ratio}:1 (zip bomb?)"
        return None

    def _size(self, real: str) -> int:
        return self._infos[real].file_size

    def _chunks(self, real: str) -> Iterator[bytes]:
        try:
            # zipfile counts the open handles of its file without a lock: opened and closed
            # one at a time here; reads of several handles may overlap (zipfile locks the seeks).
            with self._open_lock:
                handle = self._zip.open(self._infos[real])
            try:
                while chunk := handle.read(256 * 1024):
                    yield chunk
            finally:
                with self._open_lock:
                    handle.close()
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, ValueError):
            raise FileProblem(
                "corrupt ZIP member (bad data, or a size header that does not match)"
            ) from None

    def close(self) -> None:
        self._zip.close()


class FolderMedium(Medium):
    def __init__(self, path: Path, limits: Limits) -> None:
        super().__init__(str(path), limits)
        self._root = path
        count = 0
        for folder, dirs, names in os.walk(path, followlinks=False):
            rel_folder = os.path.relpath(folder, path)
            for name in sorted(dirs):
                if os.path.islink(os.path.join(folder, name)):
                    count += 1
                    rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                    self._refuse(f"file:{count}", rel, "symbolic link")
            for name in sorted(names):
                count += 1
                if count > limits.max_members:
                    raise MediumError(f"too many files in the folder (cap {limits.max_members})")
                full = os.path.join(folder, name)
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                try:
                    info = os.lstat(full)
                except OSError:
                    self._refuse(f"file:{count}", rel, "unreadable file")
                    continue
                if stat.S_ISLNK(info.st_mode):
                    self._refuse(f"file:{count}", rel, "symbolic link")
                    continue
                if not stat.S_ISREG(info.st_mode):
                    self._refuse(f"file:{count}", rel, "not a regular file")
                    continue
                self._add(rel.replace(os.sep, "/"))

    def _path(self, real: str) -> Path:
        return self._root.joinpath(*real.split("/"))

    def _size(self, real: str) -> int:
        try:
            return os.lstat(self._path(real)).st_size
        except OSError:
            raise FileProblem("the file cannot be opened") from None

    def _chunks(self, real: str) -> Iterator[bytes]:
        try:
            fd = os.open(self._path(real), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            raise FileProblem("the file cannot be opened") from None
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(64 * 1024):
                yield chunk


def open_medium(path: Path, limits: Limits) -> Medium:
    """A ZIP file or a folder holding IHE_XDM/; MediumError when it is neither (or unreadable)."""
    try:
        if path.is_dir():
            medium: Medium = FolderMedium(path, limits)
        elif path.is_file():
            medium = ZipMedium(path, limits)
        else:
            raise MediumError("no such file or folder")
    except PermissionError:
        raise MediumError("permission denied") from None
    except OSError as exc:
        raise MediumError(f"unreadable ({type(exc).__name__})") from None
    try:
        medium.subsets()
    except MediumError:
        medium.close()
        raise
    return medium


def resolve(medium: Medium, subset_folder: str, uri: str) -> str | None:
    """The real path of an entry's file (note §6.1 item 4): (a) the subset folder, (b) IHE_XDM/,
    (c) the medium root, (d) the same file name inside the subset folder. FileProblem when the
    name is ambiguous."""
    candidates = [uri]
    unquoted = urllib.parse.unquote(uri)
    if unquoted != uri and path_problem(unquoted) is None:
        candidates.append(unquoted)
    xdm = medium.xdm_root()
    root = xdm.rpartition("/")[0]
    for name in candidates:
        clean = _clean(name)
        for base in (subset_folder, xdm, root):
            real = medium.lookup(f"{base}/{clean}" if base else clean)
            if real is not None:
                return real
        last = PurePosixPath(clean).name
        if last and last != clean:
            real = medium.lookup(f"{subset_folder}/{last}")
            if real is not None:
                return real
    return None
