"""KeptConnection: reused while calls succeed, replaced after a failure, never handed to a
collection while a call on it has not returned (a hung VM must not hold its host)."""

from __future__ import annotations

import threading

import pytest

from exporter.collectors.kept import KeptConnection


class Conn:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False


class Opener:
    def __init__(self) -> None:
        self.made: list[Conn] = []

    def open(self) -> Conn:
        self.made.append(Conn(len(self.made) + 1))
        return self.made[-1]

    @staticmethod
    def close(conn: Conn) -> None:
        conn.closed = True


@pytest.fixture
def opener() -> Opener:
    return Opener()


def kept(opener: Opener) -> KeptConnection[Conn]:
    return KeptConnection(opener.open, opener.close)


def test_opens_on_first_use_and_reuses(opener: Opener) -> None:
    connection = kept(opener)
    assert connection.current is None and opener.made == []
    assert [connection.use(lambda c: c.number) for _ in range(3)] == [1, 1, 1]
    assert connection.opened == 1


def test_a_failed_call_drops_and_closes_the_connection(opener: Opener) -> None:
    connection = kept(opener)
    connection.use(lambda c: c)

    def fail(_: Conn) -> None:
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        connection.use(fail)
    assert opener.made[0].closed and connection.current is None
    assert connection.use(lambda c: c.number) == 2


def test_a_call_still_running_keeps_its_connection_from_the_next(opener: Opener) -> None:
    connection = kept(opener)
    stuck, release = threading.Event(), threading.Event()

    def hang(conn: Conn) -> int:
        stuck.set()
        release.wait(10)
        return conn.number

    worker = threading.Thread(target=connection.use, args=(hang,))
    worker.start()
    assert stuck.wait(10)
    # The next call gets a fresh connection; the stuck one stays open under its call...
    assert connection.use(lambda c: c.number) == 2
    assert connection.use(lambda c: c.number) == 2
    assert not opener.made[0].closed
    # ...and is closed once that call returns.
    release.set()
    worker.join(10)
    assert opener.made[0].closed and not opener.made[1].closed


def test_close(opener: Opener) -> None:
    connection = kept(opener)
    connection.close()  # nothing open: nothing to do
    connection.use(lambda c: c)
    connection.close()
    assert opener.made[0].closed and connection.current is None

    def broken(_: Conn) -> None:
        raise RuntimeError("close failed")

    quiet = KeptConnection(opener.open, broken)
    quiet.use(lambda c: c)
    quiet.close()  # a failing close is not the caller's problem
