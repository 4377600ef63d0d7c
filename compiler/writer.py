"""Writing a compiled tree: {path: text} -> OUT, all or nothing.

Every byte is written before anything in OUT changes, so a compile that fails
midway (a full disk, say) leaves the previous OUT as it was:

* a new or largely changed tree is written into a temporary directory beside
  OUT and swapped in with renames;
* a small change (the usual recompile) writes its few files beside their
  targets under temporary names, then renames them into place.

Files whose bytes did not change keep their modification time, and when
nothing changed OUT is not touched at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MANIFEST = "crosswalk.stacks.json"
SMALL_CHANGE = 0.2  # below this share of files changed, update in place
TEMPORARY = ".crosswalk-new"  # suffix of files written but not yet renamed into place
# Creating a file is mostly kernel work; a few threads keep every core busy
# writing a new tree of thousands of files.
WRITERS = 2 * (os.cpu_count() or 1)
_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class WriteError(Exception):
    """OUT cannot be written (not ours to replace, or an OS error)."""


def existing_files(out: Path) -> dict[str, str]:
    """Every file under OUT: its '/'-separated path -> its path on this system
    (os.scandir: no stat calls)."""
    if not out.is_dir():
        return {}
    found: dict[str, str] = {}
    pending = [(str(out), "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.is_file():
                    found[prefix + entry.name] = entry.path
    return found


def write_tree(
    files: dict[str, str],
    out: Path,
    keep: list[str] = (),
    existing: dict[str, str] | None = None,
) -> list[str]:
    """Make OUT hold exactly `files`, plus the files already under the `keep`
    directories, carried over as they are. Returns the paths whose content changed.
    `existing`: OUT's files as `existing_files` listed them moments before."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WriteError(f"{out}: exists and is not a directory")
    existing = existing_files(out) if existing is None else existing
    kept = set(keep)
    carried = {path for path in existing if _under(path, kept)} if kept else set()
    if existing and MANIFEST not in existing:
        raise WriteError(
            f"{out}: is not empty and was not written by crosswalk; choose another -o directory"
        )
    # Texts are encoded one at a time, when compared or written: a 5,000-app
    # tree is 110 MB, and holding all of it twice would double that.
    changed = sorted(
        path
        for path, text in files.items()
        if path not in existing or _read(existing[path]) != text.encode("utf-8")
    )
    removed = sorted(set(existing) - set(files) - carried)
    if not changed and not removed:
        return []

    if existing and len(changed) + len(removed) <= SMALL_CHANGE * len(existing):
        _update_in_place(out, {path: files[path].encode("utf-8") for path in changed}, removed)
        return sorted(changed + removed)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    unchanged = (set(files) - set(changed)) | carried

    def place(path: str) -> None:
        target = os.path.join(staging, path)
        if path in unchanged and _link(existing[path], target):
            return  # the same file, mtime and all
        data = files[path].encode("utf-8") if path in files else _read(existing[path])
        _write_file(target, data)
        if path in unchanged:
            stat = os.stat(existing[path])
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    try:
        paths = sorted(set(files) | carried)
        from concurrent.futures import ThreadPoolExecutor  # only new trees need threads

        with ThreadPoolExecutor(WRITERS) as pool:
            # Parents before children: one depth at a time, each depth in parallel.
            directories = {parent for p in paths for parent in _parents(p)}
            for depth in sorted({d.count("/") for d in directories}):
                level = sorted(d for d in directories if d.count("/") == depth)
                list(pool.map(lambda d: os.mkdir(os.path.join(staging, d)), level))
            list(pool.map(place, paths))
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(changed + removed)


def _under(path: str, directories: set[str]) -> bool:
    """Whether '/'-separated `path` lies anywhere under one of `directories`."""
    while "/" in path:
        path = path.rpartition("/")[0]
        if path in directories:
            return True
    return False


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _parents(path: str) -> list[str]:
    """'a/b/c.py' -> ['a', 'a/b']"""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def _write_file(target: str, data: bytes) -> None:
    """Write `data` to `target` (three system calls; a new tree has thousands)."""
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _OPEN_FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)


def _update_in_place(out: Path, changed: dict[str, bytes], removed: list[str]) -> None:
    """Write the changed files under temporary names, then rename them all into
    place and delete what is gone; a failure while writing undoes everything."""
    pending: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for path, data in sorted(changed.items()):
            target = out / path
            for parent in reversed(target.parents):
                if not parent.exists() and parent.is_relative_to(out):
                    parent.mkdir()
                    created.append(parent)
            temporary = target.with_name(target.name + TEMPORARY)
            pending.append((temporary, target))
            _write_file(str(temporary), data)
    except BaseException:
        for temporary, _ in pending:
            temporary.unlink(missing_ok=True)
        for directory in reversed(created):
            directory.rmdir()
        raise
    # Manifest last: until it is renamed, OUT still describes the old tree.
    pending.sort(key=lambda pair: pair[1].name == MANIFEST)
    for temporary, target in pending:
        os.replace(temporary, target)
    for path in removed:
        (out / path).unlink(missing_ok=True)
    for directory in sorted({(out / p).parent for p in removed}, key=lambda d: -len(d.parts)):
        while directory != out and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent


def _link(source: str, target: str) -> bool:
    """Hard-link an unchanged file into the new tree (no copy, same mtime);
    False where the filesystem cannot, and the caller writes a copy."""
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    retired.rmdir()
    os.rename(out, retired)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)
