"""The suite's PgBouncer guard: a bouncer that exits is started again; only its own known
fault is let through as a warning."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import KNOWN_BOUNCER_FAULT, _bouncer_exit
from tests.support.pgbouncer import PgBouncer

pytestmark = pytest.mark.timeout(60)

FAULT_LINE = (
    f"2026-12-01 20:12:15.707 UTC [3343] FATAL @src/objects.c:1060 {KNOWN_BOUNCER_FAULT}: 1"
)


def test_a_running_bouncer_is_no_event() -> None:
    _bouncer_exit(None, "exited during this test")


def test_the_known_fault_is_a_warning() -> None:
    with pytest.warns(UserWarning, match="known 1.18 fault; restarted"):
        _bouncer_exit(f"exit status 1; the end of its log:\nLOG closing\n{FAULT_LINE}\n", "x")


def test_any_other_exit_fails_the_test() -> None:
    with pytest.raises(pytest.fail.Exception, match="exited during this test; exit status 1"):
        _bouncer_exit(
            "exit status 1; the end of its log:\nFATAL out of memory\n", "exited during this test"
        )
    # The fault named earlier in the log, but not as the last line, is not the cause.
    with pytest.raises(pytest.fail.Exception):
        _bouncer_exit(f"exit status 1; the end of its log:\n{FAULT_LINE}\nLOG later\n", "x")


def test_a_killed_bouncer_is_started_again(pgbouncer: PgBouncer) -> None:
    os.kill(pgbouncer.process.pid, signal.SIGKILL)
    pgbouncer.process.wait(timeout=10)
    tail = pgbouncer.restart_if_exited()
    assert tail is not None and tail.startswith(f"exit status {-signal.SIGKILL}")
    assert pgbouncer.process.poll() is None and pgbouncer.restart_if_exited() is None
