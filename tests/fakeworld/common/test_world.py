"""The fake world's delays: what the bench relies on to model a slower node."""

from __future__ import annotations

import socket

from tests.fakeworld.common import world as fw


def test_a_slow_host_multiplies_its_delays_and_no_other(monkeypatch):
    monkeypatch.setenv("KSI_FAKE_KIND_CREATE_SECONDS", "4")
    monkeypatch.setattr(socket, "gethostname", lambda: "bn3")
    monkeypatch.setenv("KSI_FAKE_SLOW_HOSTS", "bn2=3, bn3=2.5")
    assert fw.delay("KSI_FAKE_KIND_CREATE_SECONDS") == 10.0
    monkeypatch.setenv("KSI_FAKE_SLOW_HOSTS", "bn2=3,bn30=2")
    assert fw.delay("KSI_FAKE_KIND_CREATE_SECONDS") == 4.0
    monkeypatch.setenv("KSI_FAKE_SLOW_HOSTS", "bn3=x")
    assert fw.delay("KSI_FAKE_KIND_CREATE_SECONDS") == 4.0
    assert fw.delay("KSI_FAKE_UNSET_SECONDS") == 0.0
