"""Writing a compiled tree: {path: text} -> OUT, all or nothing.

Every byte is written before anything in OUT changes, so a compile that fails
midway (a full disk, say) leaves the previous OUT as it was:

* a new or largely changed tree is written into a temporary directory beside
  OUT and swapped in with renames;
* a small change (the usual recompile) writes its few files beside their
  targets under temporary names, then renames them into place.

Files whose bytes did not change keep their modification time, and when
nothing changed OUT is not touched at all.

crosswalk owns only the files it writes. What Pulumi puts in a stack's
directory (`venv/`, `__pycache__/`) and anything else found in OUT stay where
they are across recompiles (a swap takes them along by rename); only a
stack that left the platform takes its directory, and Pulumi's entries in it,
away.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "crosswalk.stacks.json"
CACHE = "crosswalk.cache.json"
SMALL_CHANGE = 0.2  # below this share of files changed, update in place
TEMPORARY = ".crosswalk-new"  # suffix of files written but not yet renamed into place
# Creating a file is mostly kernel work; a few threads keep every core busy
# writing a new tree of thousands of files.
WRITERS = 2 * (os.cpu_count() or 1)
_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

# The layout crosswalk writes: its files at the top, one directory per layer
# stack (`03-cluster`) and one per app under `06-apps/`, each holding these.
APPS_DIR = "06-apps"
_LAYER_DIR = re.compile(r"0[1-9]-[a-z][a-z0-9-]*")
_STACK_FILE = re.compile(r"Pulumi\.yaml|__main__\.py|requirements\.txt|Pulumi\.[^/]+\.yaml")
# What Pulumi and Python put in a stack's directory: the `virtualenv: venv`
# option's interpreter and bytecode. Kept, never read, removed with the stack.
PULUMI_ENTRIES = frozenset({"venv", "__pycache__"})


class WriteError(Exception):
    """OUT cannot be written (not ours to replace, or an OS error)."""


@dataclass
class Listing:
    """What is in OUT, sorted by who wrote it (see `list_tree`)."""

    files: dict[str, str] = field(default_factory=dict)  # crosswalk's: '/'-path -> system path
    pulumi: list[str] = field(default_factory=list)  # Pulumi's and Python's, in stack directories
    strays: list[str] = field(default_factory=list)  # anything else; directories end in '/'

    @property
    def empty(self) -> bool:
        return not (self.files or self.pulumi or self.strays)

    def stacks(self) -> set[str]:
        return {stack_of(path) for path in [*self.files, *self.pulumi] if "/" in path}


@dataclass
class Written:
    changed: list[str] = field(default_factory=list)  # paths whose content changed
    removed_stacks: list[str] = field(default_factory=list)  # stack directories removed


def stack_of(path: str) -> str:
    """The stack directory a '/'-path lies in: '06-apps/shop/x' -> '06-apps/shop'."""
    parts = path.split("/")
    return "/".join(parts[:2]) if parts[0] == APPS_DIR else parts[0]


def list_tree(out: Path) -> Listing:
    """OUT's entries: the files crosswalk writes (by the layout, whatever
    their content), Pulumi's own entries in stack directories, and strays.
    Pulumi's entries and stray directories are not descended into (a
    virtualenv holds thousands of files); os.scandir, no stat calls."""
    listing = Listing()
    if not out.is_dir():
        return listing
    pending = [(str(out), "", "top")]
    while pending:
        directory, prefix, kind = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = prefix + entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if entry.name.endswith(TEMPORARY) and not is_dir:
                    listing.files[path] = entry.path  # a write cut short: ours to remove
                elif kind == "stack" and entry.name in PULUMI_ENTRIES:
                    listing.pulumi.append(path)
                elif is_dir and kind == "top" and _LAYER_DIR.fullmatch(entry.name):
                    pending.append(
                        (entry.path, path + "/", "apps" if path == APPS_DIR else "stack")
                    )
                elif is_dir and kind == "apps":
                    pending.append((entry.path, path + "/", "stack"))
                elif entry.is_file() and (
                    (kind == "top" and entry.name in (MANIFEST, CACHE))
                    or (kind == "stack" and _STACK_FILE.fullmatch(entry.name))
                ):
                    listing.files[path] = entry.path
                else:
                    listing.strays.append(path + ("/" if is_dir else ""))
    listing.pulumi.sort()
    listing.strays.sort()
    return listing


def existing_files(out: Path) -> dict[str, str]:
    """The files crosswalk writes that are in OUT now (see `list_tree`)."""
    return list_tree(out).files


def write_tree(
    files: dict[str, str],
    out: Path,
    keep: list[str] = (),
    listing: Listing | None = None,
    preserve: list[str] = (),
) -> Written:
    """Make crosswalk's part of OUT hold exactly `files`, plus the files under
    the `keep` directories, carried over as they are.

    Everything else stays: strays (reported by the caller), Pulumi's entries
    in the stacks that remain, and the `preserve` files (another stack's
    config file, say). A stack directory that is no longer in the tree goes,
    Pulumi's entries with it; strays in it stay. `listing`: OUT as
    `list_tree` saw it moments before."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WriteError(f"{out}: exists and is not a directory")
    listing = list_tree(out) if listing is None else listing
    existing = listing.files
    kept = set(keep)
    carried = {path for path in existing if _under(path, kept)} if kept else set()
    if not listing.empty and MANIFEST not in existing:
        raise WriteError(
            f"{out}: is not empty and was not written by crosswalk; choose another -o directory"
        )
    stacks = {stack_of(path) for path in files if "/" in path} | kept
    removed_stacks = sorted(listing.stacks() - stacks)
    # Texts are encoded one at a time, when compared or written: a 5,000-app
    # tree is 110 MB, and holding all of it twice would double that.
    changed = sorted(
        path
        for path, text in files.items()
        if path not in existing or _read(existing[path]) != text.encode("utf-8")
    )
    removed = sorted(set(existing) - set(files) - carried - set(preserve))
    dropped = [p for p in listing.pulumi if stack_of(p) in removed_stacks]
    if not changed and not removed and not dropped:
        return Written()
    done = Written(sorted(changed + removed), removed_stacks)

    if existing and len(changed) + len(removed) <= SMALL_CHANGE * len(existing):
        _update_in_place(out, {path: files[path].encode("utf-8") for path in changed}, removed)
        _remove_entries(out, dropped)
        return done

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    unchanged = (set(files) - set(changed)) | carried
    # Entries the new tree takes over as they are, by a rename each.
    moved = sorted(
        [p.rstrip("/") for p in listing.strays]
        + [p for p in listing.pulumi if p not in dropped]
        + [p for p in preserve if p in existing]
    )

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
            directories = {parent for p in [*paths, *moved] for parent in _parents(p)}
            for depth in sorted({d.count("/") for d in directories}):
                level = sorted(d for d in directories if d.count("/") == depth)
                list(pool.map(lambda d: os.mkdir(os.path.join(staging, d)), level))
            list(pool.map(place, paths))
        _swap(staging, out, moved)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return done


def _remove_entries(out: Path, paths: list[str]) -> None:
    """Delete Pulumi's entries of removed stacks, then their empty directories."""
    for path in paths:
        target = out / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    for directory in sorted({(out / p).parent for p in paths}, key=lambda d: -len(d.parts)):
        while directory != out and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent


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


def _swap(staging: Path, out: Path, moved: list[str] = ()) -> None:
    """Put `staging` in OUT's place, taking OUT's `moved` entries along."""
    if not out.exists():
        os.rename(staging, out)
        return
    taken: list[str] = []
    try:
        for path in moved:
            os.rename(out / path, staging / path)
            taken.append(path)
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        retired.rmdir()
        os.rename(out, retired)
    except BaseException:
        for path in reversed(taken):
            os.rename(staging / path, out / path)
        raise
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        for path in reversed(taken):
            os.rename(staging / path, out / path)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def replace_file(path: Path, text: str) -> None:
    """Write `text` to a sibling temporary file, then rename it over `path`, so
    an interrupted write never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as for any new file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
