#!/usr/bin/env python3
"""Content-addressed source times: lets a fresh clone reuse the shared target dir's build.

Cargo judges a workspace crate's build fresh by comparing its source files' modification
times with the build's; a fresh clone gives every file the clone's time, so CI rebuilt every
workspace crate, the runtime's wasm included (minutes), although the target dir held a build
of the very same sources. After every cargo run of the scripts, `record` writes what each
tracked file held (sha256) and its time *when that run began* into the target dir; before a
build, `restore` gives every tracked file whose content is still the recorded one its
recorded time back. A file that differs keeps its new time and is rebuilt, as before.

The record is trusted only while no cargo run happened after it (no fingerprint in the target
dir is newer than the record): a build the scripts did not record (a plain `cargo test` in a
work tree with other contents) voids it, and the next build is an ordinary one. It is also
used only by a checkout at the same path as the one recorded: cargo shares a crate's build
between checkouts at different paths, but what it compiled in (`env!("CARGO_MANIFEST_DIR")`
in tests, the absolute paths the runtime's build script watches) names the recorded one. CI
clones to the same path every time.

  source_times.py record ROOT TARGET_DIR BEGAN_NS   after a cargo run that began at BEGAN_NS
  source_times.py restore ROOT TARGET_DIR           before a build
"""

import hashlib
import json
import os
import subprocess
import sys
import time

RECORD = "srwan-source-times.json"


def tracked(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record(root, target, began_ns):
    files = {}
    for rel in tracked(root):
        path = os.path.join(root, rel)
        try:
            before = os.stat(path).st_mtime_ns
            sha = digest(path)
            after = os.stat(path).st_mtime_ns
        except OSError:
            continue
        # Changed while cargo ran (or while read): what cargo compiled is unknown.
        if before != after or after > began_ns:
            continue
        files[rel] = [sha, after]
    tmp = os.path.join(target, RECORD + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"root": os.path.realpath(root), "files": files}, f)
    os.replace(tmp, os.path.join(target, RECORD))
    return len(files)


def newer_fingerprint(target, than_ns):
    """Whether a cargo run wrote any fingerprint after `than_ns`."""
    for profile in os.listdir(target):
        base = os.path.join(target, profile, ".fingerprint")
        if not os.path.isdir(base):
            continue
        for unit in os.scandir(base):
            try:
                if unit.stat().st_mtime_ns > than_ns:
                    return True
                for f in os.scandir(unit.path):
                    if f.stat().st_mtime_ns > than_ns:
                        return True
            except OSError:
                return True
    return False


def restore(root, target):
    path = os.path.join(target, RECORD)
    try:
        written = os.stat(path).st_mtime_ns
        with open(path) as f:
            recorded = json.load(f)
        files, recorded_root = recorded["files"], recorded["root"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no record: an ordinary build"
    if recorded_root != os.path.realpath(root):
        return f"the record is of {recorded_root}: an ordinary build"
    if newer_fingerprint(target, written):
        return "a cargo run after the record: an ordinary build"
    restored = 0
    for rel in tracked(root):
        entry = files.get(rel)
        full = os.path.join(root, rel)
        try:
            if entry is None or os.stat(full).st_mtime_ns == entry[1] or digest(full) != entry[0]:
                continue
            os.utime(full, ns=(time.time_ns(), entry[1]))
            restored += 1
        except OSError:
            continue
    return f"{restored} unchanged sources keep their recorded times"


def main(argv):
    if len(argv) == 4 and argv[0] == "record":
        n = record(argv[1], argv[2], int(argv[3]))
        print(f"source times: recorded {n} sources")
    elif len(argv) == 3 and argv[0] == "restore":
        print(f"source times: {restore(argv[1], argv[2])}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
