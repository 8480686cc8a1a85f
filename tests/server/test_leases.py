"""Leases on background jobs (leases.py): of several processes that race for a job, exactly one
holds it until it gives it up or its lease runs out. Runs on the suite's database."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from pyshelf_server.db import utcnow
from pyshelf_server.leases import claim, release


def test_one_holder_at_a_time_until_the_lease_runs_out(make_app: Any) -> None:
    engine = make_app().registry.pyshelf.engine
    now = utcnow()
    assert claim(engine, "job", "a", 60, now=now)
    assert not claim(engine, "job", "b", 60, now=now + timedelta(seconds=30))
    # The holder may extend its own lease.
    assert claim(engine, "job", "a", 60, now=now + timedelta(seconds=30))
    assert not claim(engine, "job", "b", 60, now=now + timedelta(seconds=80))
    # Run out (the holder died): the next claim takes it.
    assert claim(engine, "job", "b", 60, now=now + timedelta(seconds=91))
    assert not claim(engine, "job", "a", 60, now=now + timedelta(seconds=92))
    # Other jobs are leased apart.
    assert claim(engine, "other-job", "a", 60, now=now + timedelta(seconds=92))


def test_a_released_lease_is_free_at_once(make_app: Any) -> None:
    engine = make_app().registry.pyshelf.engine
    assert claim(engine, "job", "a", 600)
    release(engine, "job", "b")  # not b's to give up
    assert not claim(engine, "job", "b", 600)
    release(engine, "job", "a")
    assert claim(engine, "job", "b", 600)


def test_racing_claims_leave_one_holder(make_app: Any) -> None:
    engine = make_app().registry.pyshelf.engine
    for round_ in range(5):
        start = threading.Barrier(8)
        won: list[str] = []

        def race(holder: str, name: str = f"race-{round_}") -> None:
            start.wait()
            if claim(engine, name, holder, 600):
                won.append(holder)

        threads = [threading.Thread(target=race, args=(f"p{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won
