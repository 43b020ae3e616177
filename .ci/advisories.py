#!/usr/bin/env python3
"""The RustSec advisories `cargo deny` checks Cargo.lock against, offline.

CI machines here cannot reach GitHub, where the advisory database lives, so
the repository carries the part of it that concerns its own crates:
`.ci/advisory-db/crates/<crate>/` for every crate named in Cargo.lock, with
`COVERS` listing the crates it was cut for.

  advisories.py refresh DB   cut the subset again from a full copy of the
                             database (a checkout of rustsec/advisory-db);
                             run it whenever Cargo.lock gains a crate
  advisories.py prepare DIR  lay out DIR as cargo-deny's `db-path` (a git
                             repository where cargo-deny looks for the
                             default database), from $DUNWELL_ADVISORY_DB
                             (a full copy) when set, else from the subset,
                             which must cover every crate in Cargo.lock
"""

import datetime
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSET = os.path.join(ROOT, ".ci", "advisory-db")
COVERS = os.path.join(SUBSET, "COVERS")
# Where cargo-deny 0.20 keeps the database of its default URL
# (https://github.com/rustsec/advisory-db) under `db-path`.
DB_DIR = "advisory-db-3157b0e258782691"


def locked_crates():
    with open(os.path.join(ROOT, "Cargo.lock"), encoding="utf-8") as f:
        lock = f.read()
    return sorted(set(re.findall(r'\[\[package\]\]\nname = "([^"]+)"', lock)))


def refresh(full):
    crates = os.path.join(full, "crates")
    if not os.path.isdir(crates):
        sys.exit(f"{full} is not an advisory database (no crates/ directory)")
    names = locked_crates()
    shutil.rmtree(os.path.join(SUBSET, "crates"), ignore_errors=True)
    copied = 0
    for name in names:
        src = os.path.join(crates, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(SUBSET, "crates", name))
            copied += len(os.listdir(src))
    for extra in ("LICENSE.txt",):
        if os.path.exists(os.path.join(full, extra)):
            shutil.copy(os.path.join(full, extra), os.path.join(SUBSET, extra))
    with open(COVERS, "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(SUBSET, "SOURCE"), "w", encoding="utf-8") as f:
        f.write(source_of(full) + "\n")
    print(f"{copied} advisories for {len(names)} crates from {full}")


def source_of(full):
    """Which state of the database the subset was cut from."""
    head = subprocess.run(
        ["git", "-C", full, "log", "-1", "--format=%H %cs"], capture_output=True, text=True
    )
    if head.returncode == 0 and head.stdout.strip():
        return f"rustsec/advisory-db {head.stdout.strip()}"
    snapshot = os.path.join(full, "SNAPSHOT.md")
    if os.path.exists(snapshot):
        with open(snapshot, encoding="utf-8") as f:
            found = re.search(r"commit\s+([0-9a-f]{40})\s*\(([0-9-]+)\)", f.read())
        if found:
            return f"rustsec/advisory-db {found.group(1)} {found.group(2)}"
    return "rustsec/advisory-db (state unknown)"


def uncovered():
    with open(COVERS, encoding="utf-8") as f:
        covered = set(f.read().split())
    return [n for n in locked_crates() if n not in covered]


def git_repo(src, dest, date):
    """A one-commit repository of `src` at `dest`, dated `date` (YYYY-MM-DD,
    the database's own date), so cargo-deny judges its age truly."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".git"))
    stamp = f"{date}T00:00:00Z"
    env = dict(os.environ, GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    run = lambda *args: subprocess.run(["git", "-C", dest, *args], check=True, env=env)
    run("init", "-q")
    run("add", "-A")
    run("-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "advisories")
    # cargo-deny reads the age from FETCH_HEAD when there is one.
    fetch_head = os.path.join(dest, ".git", "FETCH_HEAD")
    with open(fetch_head, "w", encoding="utf-8") as f:
        f.write("")
    when = datetime.datetime.fromisoformat(f"{date}T00:00:00+00:00").timestamp()
    os.utime(fetch_head, (when, when))


def date_of(source):
    """The date (YYYY-MM-DD) in a `source_of` line."""
    found = re.search(r"(\d{4}-\d{2}-\d{2})", source)
    if not found:
        sys.exit(f"advisories: no date in {source!r}")
    return found.group(1)


def prepare(out):
    full = os.environ.get("DUNWELL_ADVISORY_DB")
    dest = os.path.join(out, DB_DIR)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    if full:
        if not os.path.isdir(os.path.join(full, "crates")):
            sys.exit(f"DUNWELL_ADVISORY_DB={full} is not an advisory database (no crates/)")
        date = date_of(source_of(full))
        git_repo(full, dest, date)
        print(f"advisories: the database at {full}, as of {date}")
        return
    missing = uncovered()
    if missing:
        sys.exit(
            "advisories: the subset in .ci/advisory-db was cut before Cargo.lock gained "
            + ", ".join(missing)
            + "; run `.ci/advisories.py refresh <a copy of rustsec/advisory-db>`"
        )
    with open(os.path.join(SUBSET, "SOURCE"), encoding="utf-8") as f:
        date = date_of(f.read())
    git_repo(SUBSET, dest, date)
    print(f"advisories: the subset in .ci/advisory-db (every crate in Cargo.lock), as of {date}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("refresh", "prepare"):
        sys.exit(__doc__)
    {"refresh": refresh, "prepare": prepare}[sys.argv[1]](sys.argv[2])
