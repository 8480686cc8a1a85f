"""The retention clean-up of 100,000 files, run by hand (not a test):

- ``stage``: a volatile stage of 1,000 projects x 50 versions x 2 files with
  ``keep_versions=5``: 90 % of the files go;
- ``mirror``: a mirror holding 100,000 downloaded files with ``evict_unused_after=30d``,
  90 % of them unused for longer.

The server directory is filled directly (rows through SQLAlchemy, blobs through the file
store, without fsync), as uploading 100,000 files would take most of the run. Then
``pyshelf-server --cleanup --dry-run`` and ``pyshelf-server --cleanup`` run under
``/usr/bin/time``: seconds, peak resident memory, the bytes reported, and the store's and the
database file's bytes on disk before and after.

    .venv/bin/python bench/cleanup.py [--files 100000] [--scenarios stage,mirror]

Results go to stdout and bench/results/cleanup-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops import measured  # the same timing of a command as the ops bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = REPO / ".venv" / "bin"
BLOB_BYTES = 4096
BATCH = 5000


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def fill(serverdir: Path, scenario: str, files: int) -> None:
    from sqlalchemy import insert, select

    from pyshelf_server.accounts.models import User
    from pyshelf_server.db import make_engine, utcnow
    from pyshelf_server.indexes.models import Index
    from pyshelf_server.mirror.models import MirrorFile
    from pyshelf_server.packages.models import File, Project, Version
    from pyshelf_server.settings import ServerSettings
    from pyshelf_server.storage.files import open_store

    settings = ServerSettings(serverdir=serverdir)
    engine = make_engine(settings.database_url)
    store = open_store(settings)
    now = utcnow()
    old = now - datetime.timedelta(days=60)

    def blob(n: int) -> tuple[str, int]:
        data = f"{scenario}-{n}-".encode().ljust(BLOB_BYTES, b"x")
        stored = store.put_bytes(data, durable=False)
        return stored.sha256, len(data)

    with engine.begin() as connection:
        root = connection.execute(select(User.id).where(User.name == "root")).scalar_one()
        options = ({"keep_versions": 5} if scenario == "stage"
                   else {"mirror_url": "http://upstream.example/simple/",
                         "evict_unused_after": 30 * 86400})
        index_id = connection.execute(
            insert(Index).values(user_id=root, name=scenario,
                                 type="stage" if scenario == "stage" else "mirror",
                                 volatile=True, options=options, created=now)
        ).inserted_primary_key[0]
    if scenario == "stage":
        versions_per_project, per_version = 50, 2
        projects = files // (versions_per_project * per_version)
        for p in range(projects):
            with engine.begin() as connection:
                project_id = connection.execute(
                    insert(Project).values(index_id=index_id, name=f"proj-{p}",
                                           display_name=f"proj-{p}", created=now,
                                           change_token=f"{p:032d}")
                ).inserted_primary_key[0]
                rows = []
                for v in range(versions_per_project):
                    version_id = connection.execute(
                        insert(Version).values(project_id=project_id, version=f"1.{v}",
                                               meta={}, created=now)
                    ).inserted_primary_key[0]
                    for k in range(per_version):
                        sha, size = blob(p * 1000 + v * 10 + k)
                        rows.append({
                            "index_id": index_id, "version_id": version_id,
                            "rel": "releasefile", "filename": f"proj_{p}-1.{v}-{k}.whl",
                            "sha256": sha, "size": size, "upload_time": now, "log": [],
                            "download_count": 0, "yanked": False,
                        })
                connection.execute(insert(File), rows)
    else:
        for start in range(0, files, BATCH):
            rows = []
            for n in range(start, min(files, start + BATCH)):
                sha, size = blob(n)
                recent = n % 10 == 0
                rows.append({
                    "index_id": index_id, "project": f"proj-{n // 100}",
                    "filename": f"proj_{n // 100}-{n}.whl", "key": sha[:16], "sha256": sha,
                    "size": size, "version": "1.0", "url": f"http://upstream.example/{n}.whl",
                    "stored": old, "last_download": now if recent else None,
                })
            with engine.begin() as connection:
                connection.execute(insert(MirrorFile), rows)
    store.close()
    engine.dispose()


def scenario_run(workdir: Path, scenario: str, files: int) -> dict:
    serverdir = workdir / scenario
    subprocess.run([str(BIN / "pyshelf-init"), "--serverdir", str(serverdir), "--root-passwd",
                    "bench"], check=True, capture_output=True)
    started = time.monotonic()
    fill(serverdir, scenario, files)
    fill_seconds = time.monotonic() - started
    store, database = serverdir / "files", serverdir / "pyshelf.sqlite3"
    command = [str(BIN / "pyshelf-server"), "--serverdir", str(serverdir), "--cleanup", "--json"]
    store_before, db_before = disk_bytes(store), database.stat().st_size
    dry_s, dry_kb, dry_out = measured([*command, "--dry-run"])
    run_s, run_kb, run_out = measured(command)
    dry, real = json.loads(dry_out), json.loads(run_out)
    return {
        "files": files, "fill_seconds": round(fill_seconds, 1),
        "dry_run_seconds": round(dry_s, 2), "dry_run_peak_kb": dry_kb,
        "dry_run_files": dry["files"], "dry_run_bytes": dry["bytes_freed"],
        "cleanup_seconds": round(run_s, 2), "cleanup_peak_kb": run_kb,
        "deleted_files": real["files"], "bytes_freed": real["bytes_freed"],
        "database_bytes_freed": real["database_bytes_freed"],
        "store_bytes_before": store_before, "store_bytes_after": disk_bytes(store),
        "database_bytes_before": db_before, "database_bytes_after": database.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--scenarios", default="stage,mirror")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="pyshelf-cleanup-bench-") as tmp:
        for scenario in args.scenarios.split(","):
            results[scenario] = scenario_run(Path(tmp), scenario, args.files)
            print(scenario, json.dumps(results[scenario], indent=1), flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"cleanup-{stamp}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "server"))
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
