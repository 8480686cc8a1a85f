"""The age rules without a server: durations, exemptions, and the page filter agreeing with the
per-file verdict the file URLs and /+status use."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from pyshelf_server.indexes.backends import Link
from pyshelf_server.indexes.registry import IndexInfo
from pyshelf_server.lifecycle.age import AgeRule, parse_duration, split_links

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def info(name, **options):
    return IndexInfo(id=hash(name) % 1000, user="root", name=name, type="stage", volatile=True,
                     options=options, bases=())  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800), ("36h", 129600), ("90m", 5400),
                                               ("1d12h", 129600), ("2w", 1209600), ("45s", 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "7 days", "-1d", "1.5d"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


RULES = [
    AgeRule.of(info("a", min_release_age="7d")),
    AgeRule.of(info("b", min_release_age="2d", min_release_age_exempt=["six*"])),
    AgeRule.of(info("c", exclude_newer="2026-05-28")),
    AgeRule.of(info("d", min_release_age="1d", min_release_age_unknown="show",
                    min_release_age_exempt=["six until 2026-06-02"])),
]  # fmt: skip
TIMES = [None, NOW - timedelta(days=30), NOW - timedelta(days=5), NOW - timedelta(days=1.5),
         NOW - timedelta(hours=2), datetime(2026, 5, 28, 0, 0, 1)]  # fmt: skip


@pytest.mark.parametrize("project", ["six", "sixty", "other"])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_the_page_filter_agrees_with_the_verdict_of_every_rule(project, count):
    links = [Link(filename=f"f{i}", path="", hashes={}, stage="x", upload_time=when)
             for i, when in enumerate(TIMES)]  # fmt: skip
    for rules in itertools.combinations(RULES, count):
        visible, held = split_links(rules, project, links, NOW)
        expected = [link for link in links
                    if not any(r.verdict(project, link.upload_time, NOW)[0] for r in rules)]
        assert visible == expected, rules
        changes = [c for r in rules for link in links
                   if (c := r.verdict(project, link.upload_time, NOW)[1]) is not None]
        if held.changes_at is not None:
            assert held.changes_at in changes
            assert held.changes_at > NOW
