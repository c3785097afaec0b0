"""``ksi shell`` driven through a pseudo-terminal, as a user at a terminal (or ``srun --pty``) is.

ksi runs as the session leader of a new session whose controlling terminal is the pty's slave
side -- exactly what ``srun --pty`` gives task 0 -- and the test types into the master side.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from ksi import constants as C


class Terminal:
    def __init__(self, world, *args: str, env: dict[str, str] | None = None, argv: list[str] | None = None):
        master, slave = os.openpty()
        # wide enough that readline never scrolls the prompt (rows, cols, xpixel, ypixel)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(argv or ["ksi", "shell", *args], stdin=slave, stdout=slave, stderr=slave,
                                     cwd=world.base / "work", start_new_session=True,
                                     env={**world.env, "SHELL": "/bin/bash", "TERM": "dumb", **(env or {})},
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.seen = ""
        self.pos = 0

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait for ``pattern`` after the previous match."""
        end = time.monotonic() + timeout
        while True:
            m = re.compile(pattern).search(self.seen, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s; the terminal showed:\n{self.seen}")
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # EIO: the other side is gone
                    data = b""
                if not data:
                    raise AssertionError(f"the terminal closed before {pattern!r}:\n{self.seen}")
                self.seen += data.decode(errors="replace").replace("\r\n", "\n")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 60) -> int:
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if r:
                try:
                    self.seen += os.read(self.master, 4096).decode(errors="replace").replace("\r\n", "\n")
                except OSError:
                    time.sleep(0.1)
        return self.proc.wait(timeout=5)

    def close(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass


PROMPT = r"\(ksi:ksi-p\d+-[0-9a-f]{6}\) "


def test_an_interactive_shell_with_the_cluster_then_exit_tears_down(world):
    t = Terminal(world)
    try:
        m = t.expect(PROMPT)
        cluster = m.group(0)[5:-2]
        t.send('echo "ns=$KSI_NAMESPACE ctx=$K8S_CLUSTER_NAME"; kubectl get nodes -o name\n')
        t.expect(f"ns=ksi-workload ctx={cluster}")
        t.expect(f"node/{cluster}-control-plane")
        # Ctrl-C goes to the shell's foreground job, not to ksi
        t.send("sleep 60; echo after-sleep\n")
        time.sleep(1.5)
        t.send("\x03")
        t.expect(PROMPT, timeout=10)
        assert t.proc.poll() is None and not re.search(r"^after-sleep$", t.seen, re.M)  # sleep interrupted
        t.send("kubectl get ns ksi-workload -o name\n")
        t.expect("namespace/ksi-workload")
        t.send("exit 3\n")
        assert t.finish() == 3, t.seen
        assert "✓ delete cluster" in t.seen and "finished with exit code 3" in t.seen
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
        t.close()


def test_ctrl_d_leaves_the_shell(world):
    t = Terminal(world)
    try:
        t.expect(PROMPT)
        t.send("\x04")
        assert t.finish() == 0, t.seen
        assert "✓ delete cluster" in t.seen
    finally:
        t.close()


def test_a_hang_up_tears_everything_down(world):
    t = Terminal(world)
    t.expect(PROMPT)
    t.close()  # the terminal goes away: SIGHUP to its controlling process, ksi
    code = t.proc.wait(timeout=60)
    assert code == 128 + signal.SIGHUP
    # the world fixture checks that no cluster, daemon or file is left


def test_a_command_instead_of_a_shell_needs_no_terminal(world):
    res = world.ksi("shell", "--", "sh", "-c", 'echo "$KSI_NAMESPACE|$KSI_PROMPT"; kubectl get ns -o name; exit 4')
    assert res.returncode == 4, res.stderr
    assert re.search(r"^ksi-workload\|" + PROMPT + "$", res.stdout, re.M)
    assert "namespace/ksi-workload" in res.stdout


def test_without_a_terminal_or_a_command_it_says_what_to_do(world):
    res = world.ksi("shell")
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.startswith("ERROR: ksi shell has no terminal") and "ksi shell -- CMD" in res.stderr
    assert not world.containers()


@pytest.mark.parametrize("shell", ["/bin/sh"])
def test_other_shells_get_the_prompt_in_ps1(world, shell):
    t = Terminal(world, env={"SHELL": shell})
    try:
        t.expect(PROMPT + r"\$ ")
        t.send("exit\n")
        assert t.finish() == 0, t.seen
    finally:
        t.close()
