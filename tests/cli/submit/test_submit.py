"""``ksi submit`` without Slurm: the rendered script against golden files, input errors, and
what happens when sbatch is missing or refuses (a fake ``sbatch`` on PATH).

The real submission is tested in tests/slurm/test_submit.py.  Regenerate the golden files
after an intended change with ``KSI_UPDATE_GOLDEN=1 pytest tests/cli/submit/test_submit.py``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from ksi import submit as sub
from ksi.cli import cli

GOLDEN = Path(__file__).resolve().parents[2] / "golden"  # tests/golden: tests/unit uses it too
KSI = "/opt/ksi/bin/ksi"
HOME = "/home/alice"  # stands for the test's temporary directory in the golden files


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A directory holding workloads/hello.sh, as the current directory; a fixed ksi path."""
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "hello.sh").write_text("#!/bin/bash\necho hello\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sub, "ksi_command", lambda: [KSI])
    for name in ("KSI_SIGNAL_MARGIN", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def submit(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["submit", *args], env=env, catch_exceptions=False)


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("KSI_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_the_default_script(work):
    res = submit("--print", "workloads/hello.sh")
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    check_golden("sbatch-defaults.sh", res.stdout.replace(str(work), HOME))


def test_every_option_and_arguments_that_need_quoting(work):
    res = submit("--print", "-N", "3", "-t", "2-00:00:00", "-p", "gpu", "-A", "proj 42",
                 "-J", "my run #1", "-o", "logs/%x-%j.out", "--signal-margin", "120",
                 "--sbatch-arg=--mem=8G", "--sbatch-arg", "--constraint=a&b",
                 "--timeout", "900", "--workdir", "data", "--shared-dir", "~/ksi-shared",
                 "--no-federation", "--load-image", "images/app.tar", "--load-image",
                 "/scratch/db.tar",
                 "workloads/hello.sh", "first arg", "it's $HOME", "--flag", "*", "",
                 env={"HOME": HOME})
    assert res.exit_code == 0, res.output
    check_golden("sbatch-full.sh", res.stdout.replace(str(work), HOME))


def test_no_signal_line_with_a_margin_of_zero(work):
    res = submit("--print", "--signal-margin", "0", "workloads/hello.sh")
    assert res.exit_code == 0, res.output
    assert "--signal" not in res.stdout.replace("--signal-margin", "")
    assert "#SBATCH --time=01:00:00\n#SBATCH --output=ksi-%j.out\nset -euo pipefail\n" \
        in res.stdout


def test_the_signal_margin_from_the_environment(work):
    res = submit("--print", "workloads/hello.sh", env={"KSI_SIGNAL_MARGIN": "300"})
    assert "\n#SBATCH --signal=TERM@300\n" in res.stdout


def test_the_script_is_valid_bash(work, tmp_path):
    import subprocess

    res = submit("--print", "-J", "a'b", "workloads/hello.sh", "x y", "'", '"', "$(boom)")
    script = tmp_path / "job.sh"
    script.write_text(res.stdout)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    # the srun line, run with echo instead of srun, gives back exactly the arguments
    line = res.stdout.splitlines()[-1]
    assert line.startswith(f"srun --kill-on-bad-exit=0 {KSI} run {work}/workloads/hello.sh ")
    words = subprocess.run(["bash", "-c", "printf '%s\\n' " + line.split(" ", 1)[1]],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert words[-4:] == ["x y", "'", '"', "$(boom)"]


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "ERROR: workload {p} does not exist (give the path of a bash script)"),
    (lambda d: d.mkdir(), "ERROR: workload {p} is not a file (give the path of a bash script)"),
])
def test_a_bad_workload_is_one_error_line_exit_2(work, make, message):
    path = work / "nope.sh"
    make(path)
    res = submit("--print", str(path))
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr == message.format(p=path) + "\n"


@pytest.mark.parametrize("bad", ["bad", "1:2:3:4", "1h", "2-", ""])
def test_a_bad_time_limit_is_refused_even_with_print(work, bad):
    res = submit("--print", "--time", bad, "workloads/hello.sh")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith(f"ERROR: --time {bad!r} is not a Slurm time limit (use minutes")


@pytest.mark.parametrize("good", ["30", "30:00", "2:00:00", "1-12", "1-12:30", "1-0:0:1",
                                  "UNLIMITED"])
def test_every_slurm_time_format_is_taken(work, good):
    res = submit("--print", "--time", good, "workloads/hello.sh")
    assert res.exit_code == 0, res.stderr
    assert f"#SBATCH --time={good}\n" in res.stdout


def test_a_line_break_in_an_sbatch_value_is_refused(work):
    res = submit("--print", "-J", "a\nb", "workloads/hello.sh")
    assert res.exit_code == 2
    assert res.stderr == "ERROR: job name holds a line break (an #SBATCH value is one line)\n"


def fake_sbatch(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / "sbatch"
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_submitting_passes_the_printed_script_to_sbatch_parsable(work, tmp_path):
    seen = tmp_path / "seen"
    fake_sbatch(tmp_path / "bin", f'echo "$@" > {seen}.argv; cat "$2" > {seen}.script\n'
                "echo 'sbatch: warning: a warning' >&2\necho '4242;cluster1'\n")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    printed = submit("--print", "-J", "x", "workloads/hello.sh", "a")
    res = submit("-J", "x", "workloads/hello.sh", "a", env=env)
    assert res.exit_code == 0, res.output
    assert res.stdout == f"Submitted ksi job 4242 (output: {work}/ksi-4242.out)\n"
    assert res.stderr == "sbatch: warning: a warning\n"
    argv = Path(f"{seen}.argv").read_text().split()
    assert argv[0] == "--parsable" and len(argv) == 2
    assert Path(f"{seen}.script").read_text() == printed.stdout
    assert not Path(argv[1]).exists()  # the temporary copy is gone


def test_sbatch_refusing_is_its_error_in_one_line_exit_4(work, tmp_path):
    fake_sbatch(tmp_path / "bin", "echo 'sbatch: error: invalid partition specified: x' >&2\n"
                "echo 'sbatch: error: Batch job submission failed: Invalid partition name "
                "specified' >&2\nexit 1\n")
    res = submit("-p", "x", "workloads/hello.sh",
                 env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert res.exit_code == 4
    assert res.stdout == ""
    assert res.stderr == ("ERROR: `sbatch` failed with exit code 1: sbatch: error: Batch job "
                          "submission failed: Invalid partition name specified\n")


def test_without_sbatch_it_is_exit_3_with_a_hint(work, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = submit("workloads/hello.sh", env={"PATH": str(empty)})
    assert res.exit_code == 3
    assert res.stderr == ("ERROR: `sbatch` was not found on PATH (submit from a Slurm login "
                          "node, or add sbatch's directory to PATH; `ksi submit --print` shows "
                          "the script without submitting it)\n")


def test_output_paths_fill_in_the_job_id_and_name():
    cwd = Path("/w")
    assert sub.output_path("ksi-%j.out", "7", "n", cwd) == Path("/w/ksi-7.out")
    assert sub.output_path("/l/%x.%j.%%j", "7", "n", cwd) == Path("/l/n.7.%j")


@pytest.mark.parametrize("stdout, job", [("123\n", "123"), ("123;cl\n", "123")])
def test_parsable_output(stdout, job):
    assert sub.parse_job_id(stdout) == job


def test_the_ksi_command_is_this_installation(monkeypatch, tmp_path):
    script = tmp_path / "bin" / "ksi"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr("sys.argv", [str(script), "submit"])
    assert sub.ksi_command() == [str(script)]
    monkeypatch.setattr("sys.argv", ["/x/site-packages/ksi/__main__.py", "submit"])
    import sys

    assert sub.ksi_command() == [sys.executable, "-m", "ksi"]
