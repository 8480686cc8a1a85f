"""The minimum release age: files younger than an index's ``min_release_age``, or uploaded after
its ``exclude_newer`` cut-off, are invisible through that index.

The rule of inheritance is "strictest wins": every index of the resolution order that sets an
age rule applies it, with its own exemptions, to everything seen through the index. A stage can
therefore add a cool-down on top of a mirror but never lift the mirror's (an exemption on the
stage only exempts from the stage's own rule); "break glass" for a project means an exemption
on each index that holds it back. A file URL is checked against the rules of the index whose
path it is under, so a lock file pinning a mirror's URL meets the mirror's rules.

Upload times are PEP 700's: the hosted file's, or upstream's for mirrored files. A file whose
upload time is unknown counts as too new unless the rule's index sets
``min_release_age_unknown=show``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..indexes.backends import Link
from ..indexes.registry import IndexInfo
from ..names import normalize_name
from ..responses import APIError

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+)\s*([wdhms])")


def parse_duration(text: str) -> int:
    """Seconds of a duration like ``7d``, ``36h`` or ``1d12h``; ValueError otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or _DURATION.sub("", compact).strip():
        raise ValueError(text)
    return sum(int(number) * _UNITS[unit] for number, unit in parts)


def parse_instant(text: str) -> datetime:
    """A date (midnight UTC) or an ISO timestamp (UTC unless it says otherwise)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(text) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Exemption:
    # A normalised project name, or a pattern of them (``*``, ``?``, ``[…]``).
    pattern: str
    until: datetime | None = None

    def admits(self, project: str, now: datetime) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.pattern == project or fnmatch.fnmatchcase(project, self.pattern)


def parse_exemption(entry: str) -> Exemption:
    name, sep, rest = entry.strip().partition(" until ")
    name = name.strip()
    if not name or " " in name:
        raise ValueError(entry)
    until = parse_instant(rest) if sep else None
    pattern = name if any(c in name for c in "*?[") else normalize_name(name)
    return Exemption(pattern.lower(), until)


@dataclass(frozen=True)
class AgeRule:
    """One index's rule; ``index`` is the index that set it."""

    index: str
    max_age: int | None
    cutoff: datetime | None
    exemptions: tuple[Exemption, ...]
    show_unknown: bool
    age_text: str = ""

    @classmethod
    def of(cls, info: IndexInfo) -> AgeRule | None:
        age_text = info.options.get("min_release_age") or ""
        cutoff_text = info.options.get("exclude_newer") or ""
        if not age_text and not cutoff_text:
            return None
        return cls(
            index=info.fullname,
            max_age=parse_duration(age_text) if age_text else None,
            cutoff=parse_instant(cutoff_text) if cutoff_text else None,
            exemptions=tuple(
                parse_exemption(e) for e in info.options.get("min_release_age_exempt") or ()
            ),
            show_unknown=info.options.get("min_release_age_unknown") == "show",
            age_text=age_text,
        )

    def describe(self) -> str:
        parts = []
        if self.age_text:
            parts.append(f"min_release_age {self.age_text}")
        if self.cutoff is not None:
            parts.append(f"exclude_newer {self.cutoff.isoformat()}")
        return " and ".join(parts) + f" of {self.index}"

    def exemption_for(self, project: str, now: datetime) -> Exemption | None:
        for exemption in self.exemptions:
            if exemption.admits(project, now):
                return exemption
        return None

    def verdict(
        self, project: str, uploaded: datetime | None, now: datetime
    ) -> tuple[bool, datetime | None]:
        """(whether the file is held back now, when that answer may change, or None)."""
        exemption = self.exemption_for(project, now)
        if exemption is not None:
            return False, exemption.until
        if uploaded is None:
            return not self.show_unknown, None
        if uploaded.tzinfo is None:
            uploaded = uploaded.replace(tzinfo=UTC)
        if self.cutoff is not None and uploaded > self.cutoff:
            return True, None
        if self.max_age is not None:
            visible_from = uploaded + timedelta(seconds=self.max_age)
            if now < visible_from:
                return True, visible_from
        return False, None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def rules_for(order: Iterable[IndexInfo]) -> tuple[AgeRule, ...]:
    """The rules of every index of a resolution order that sets one."""
    return tuple(rule for info in order if (rule := AgeRule.of(info)) is not None)


@dataclass
class Held:
    """What a filter held back, and when its answer may change (a file comes of age, an
    exemption expires)."""

    links: list[Link]
    changes_at: datetime | None = None


def split_links(
    rules: tuple[AgeRule, ...], project: str, links: list[Link], now: datetime
) -> tuple[list[Link], Held]:
    """(the links visible now, those held back). The same answers as each rule's
    :meth:`AgeRule.verdict`, with what depends only on the project worked out once: a page may
    hold thousands of links."""
    applicable: list[AgeRule] = []
    held = Held([])
    for rule in rules:
        exemption = rule.exemption_for(project, now)
        if exemption is None:
            applicable.append(rule)
        else:
            held.changes_at = _earliest(held.changes_at, exemption.until)
    if not applicable:
        return list(links), held
    cutoffs = [rule.cutoff for rule in applicable if rule.cutoff is not None]
    cutoff = min(cutoffs) if cutoffs else None
    ages = [rule.max_age for rule in applicable if rule.max_age is not None]
    longest = timedelta(seconds=max(ages)) if ages else None
    newest_visible = now - longest if longest is not None else None
    hide_unknown = any(not rule.show_unknown for rule in applicable)
    visible: list[Link] = []
    for link in links:
        uploaded = link.upload_time
        if uploaded is None:
            hidden = hide_unknown
        else:
            if uploaded.tzinfo is None:
                uploaded = uploaded.replace(tzinfo=UTC)
            if cutoff is not None and uploaded > cutoff:
                hidden = True
            elif newest_visible is not None and uploaded > newest_visible:
                hidden = True
                held.changes_at = _earliest(held.changes_at, uploaded + longest)  # type: ignore[operator]
            else:
                hidden = False
        if hidden:
            held.links.append(link)
        else:
            visible.append(link)
    return visible, held


def holding_rule(
    rules: tuple[AgeRule, ...], project: str, uploaded: datetime | None, now: datetime
) -> AgeRule | None:
    """The first rule that holds back a file of ``project`` uploaded at ``uploaded``."""
    for rule in rules:
        if rule.verdict(project, uploaded, now)[0]:
            return rule
    return None


def refuse_if_held_back(
    rules: tuple[AgeRule, ...],
    project: str,
    uploaded: datetime | None,
    now: datetime,
    filename: str,
) -> None:
    """A file URL of a file the rules hold back answers 404, saying which rule holds it."""
    rule = holding_rule(rules, project, uploaded, now)
    if rule is not None:
        raise APIError(404, f"{filename} is held back by the {rule.describe()}")
