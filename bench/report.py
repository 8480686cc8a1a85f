"""The table: one row per scenario, pyshelf next to devpi-server, the ratio, the target and the
two references (a static-file server, and a bare app on pyshelf's waitress: the ceiling), plus a
Markdown copy for ``bench/README.md``.

Why one place: the targets of the issue live here and nowhere else, so the verdict printed
after a run and the one pasted into the README cannot drift apart.  Ratios are always
"how many times better pyshelf is": pyshelf/devpi for rates, devpi/pyshelf for times and memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    min_ratio: float | None = None  # pyshelf must be this many times better than devpi
    max_value: float | None = None  # absolute ceiling for pyshelf (times, memory)
    vs_static: bool = False  # at least as fast as the static file server


ROWS = [
    Row("simple_html_c1", "simple page HTML, c1", "req/s", True),
    Row("simple_html_c16", "simple page HTML, c16", "req/s", True, min_ratio=10, vs_static=True),
    Row("simple_json_c1", "simple page JSON, c1", "req/s", True),
    Row("simple_json_c16", "simple page JSON, c16", "req/s", True, min_ratio=10),
    Row("project_list_c1", "project list (200), c1", "req/s", True),
    Row("project_list_c16", "project list (200), c16", "req/s", True),
    Row("upload_token", "upload, login token", "files/s", True, min_ratio=3),
    Row("upload_basic", "upload, HTTP Basic", "files/s", True, min_ratio=10),
    Row("upload_apitoken", "upload, Basic __token__ API token", "files/s", True),
    Row("populate", "populate 4,000 files (token)", "files/s", True),
    Row("populate_big", "populate 3,000 versions (token)", "files/s", True),
    Row("big_first_ms", "3,000-version page, first fetch", "ms", False, max_value=50),
    Row("big_json_first_ms", "3,000-version page JSON, first fetch", "ms", False, max_value=50),
    Row("big_html_p50_ms", "3,000-version page HTML, c1 p50", "ms", False, max_value=50),
    Row("big_json_p50_ms", "3,000-version page JSON, c1 p50", "ms", False, max_value=50),
    Row("startup_fresh", "startup, fresh server dir", "s", False, max_value=1.0),
    Row("startup_data", "startup, after the run", "s", False, max_value=1.0),
    Row("rss_end_mb", "resident memory at the end", "MB", False, max_value=120),
]


def _value(results: dict[str, Any] | None, key: str) -> float | None:
    if not results or key not in results or results[key].get("value") in (None, 0.0):
        return None
    return float(results[key]["value"])


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def evaluate(
    row: Row, mine: float | None, theirs: float | None, static: float | None
) -> tuple[str, str, str]:
    """(ratio text, target text, verdict) for one row."""
    ratio = None
    if mine and theirs:
        ratio = mine / theirs if row.higher_is_better else theirs / mine
    targets, verdicts = [], []
    if row.min_ratio is not None:
        targets.append(f"≥{row.min_ratio:g}x devpi")
        if ratio is not None:
            verdicts.append(ratio >= row.min_ratio)
    if row.max_value is not None:
        targets.append(f"≤{row.max_value:g} {row.unit}")
        if mine is not None:
            verdicts.append(mine <= row.max_value)
    if row.vs_static:
        targets.append("≥ static")
        if mine is not None and static is not None:
            verdicts.append(mine >= static)
    verdict = "" if not verdicts else ("met" if all(verdicts) else "MISSED")
    return (f"{ratio:.2f}x" if ratio is not None else "-"), ", ".join(targets), verdict


def table(
    pyshelf: dict[str, Any],
    devpi: dict[str, Any] | None,
    static: dict[str, Any] | None,
    bare_waitress: dict[str, Any] | None = None,
    markdown: bool = False,
) -> str:
    header = [
        "scenario",
        "unit",
        "pyshelf",
        "devpi",
        "ratio",
        "static http.server",
        "bare app on waitress",
        "target",
        "verdict",
    ]
    lines = []
    for row in ROWS:
        mine, theirs = _value(pyshelf, row.key), _value(devpi, row.key)
        reference = _value(static, row.key) if static else None
        ceiling = _value(bare_waitress, row.key) if bare_waitress else None
        if mine is None and theirs is None:
            continue
        ratio, target, verdict = evaluate(row, mine, theirs, reference)
        lines.append(
            [
                row.label,
                row.unit,
                _fmt(mine),
                _fmt(theirs),
                ratio,
                _fmt(reference),
                _fmt(ceiling),
                target,
                verdict,
            ]
        )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(str(cells[i])) for cells in [header, *lines]) for i in range(len(header))]
    fmt = "  ".join(
        f"{{:{'<' if i in (0, 1, 7) else '>'}{width}}}" for i, width in enumerate(widths)
    )
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([fmt.format(*header), rule, *(fmt.format(*cells) for cells in lines)])


def anomalies(name: str, results: dict[str, Any]) -> list[str]:
    """Non-200 answers under load, failed uploads, wrong link counts: things to look at."""
    notes = []
    for key, value in results.items():
        if not isinstance(value, dict):
            continue
        if value.get("non_2xx") or value.get("socket_errors"):
            notes.append(
                f"{name} {key}: {value.get('non_2xx', 0)} non-2xx/3xx answers, "
                f"{value.get('socket_errors', 0)} socket errors under load"
            )
        if value.get("failures"):
            notes.append(f"{name} {key}: upload failures {value['failures']}")
        statuses = value.get("statuses")
        if statuses and set(statuses) - {"200"}:
            notes.append(f"{name} {key}: upload statuses {statuses} {value.get('first_errors')}")
        if key == "big_first_ms" and value.get("links"):
            notes.append(f"{name} 3,000-version page: {value['links']} links served")
        if value.get("error"):
            notes.append(f"{name} {key}: {value['error']}")
        if any(run.get("capped") for run in value.get("runs", []) if isinstance(run, dict)):
            notes.append(f"{name} {key}: hit the request cap; req/s is understated")
    return notes
