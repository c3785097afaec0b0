"""What real sites do (issue 12), on the real Slurm harness with the doubles: proxies that the
members' API calls must bypass, ``SLURM_TIME_FORMAT``, and (``test_hostname_nodeaddr.py``)
host names as ``NodeAddr``."""

from __future__ import annotations

import subprocess
import time

from tests.slurm.kit import PROBE


def test_a_federated_job_behind_a_proxy_that_refuses_every_connection(sw):
    # Nothing listens on port 9 of any node: every connection through the proxy is refused, so
    # the run works only if every call to a member's API server bypasses it (NO_PROXY).
    out = sw.base / "out"
    proxy = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
             "NO_PROXY": "example.org"}
    res = sw.srun("run", PROBE, str(out), env=proxy)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("✓ peer") == 1, res.stderr
    assert len((out / "nodes").read_text().split()) == 3  # control plane + 2 virtual nodes
    assert (out / "curl.rc").read_text().strip() == "0", (out / "curl.err").read_text()


def test_the_jobs_end_is_known_whatever_the_users_slurm_time_format(sw):
    # Slurm 22.05 on the harness sets no SLURM_JOB_END_TIME: ksi must ask scontrol, which prints
    # EndTime as "Today 21:40"-like text under SLURM_TIME_FORMAT=relative
    out = sw.base / "out"
    start = time.time()
    argv = sw.srun_argv("run", "--no-federation", PROBE, str(out), nodes=1,
                        srun_opts=("-t", "10"))
    res = subprocess.run(argv, cwd=sw.base / "work", env={**sw.env, "SLURM_TIME_FORMAT": "relative"},
                         text=True, capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines())
    assert "KSI_DEADLINE" in env, env
    assert abs(int(env["KSI_DEADLINE"]) - (start + 600)) < 90


def test_liqo_set_values_reach_liqoctl_install_on_every_member(sw):
    # Liqo's internal CIDR moved (it collides with a site network): the chart value must reach
    # `liqoctl install` on every member, and the federation must still come up.
    script = sw.base / "work" / "liqo-net.sh"
    script.write_text("kubectl get networks.ipam.liqo.io -n liqo internal-cidr "
                      "-o jsonpath='{.spec.cidr}' > internal-cidr.txt\n")
    res = sw.srun("run", "--liqo-set", "ipam.internalCIDR=10.81.0.0/16", str(script), nodes=2)
    assert res.returncode == 0, res.stderr
    assert (sw.base / "work" / "internal-cidr.txt").read_text() == "10.81.0.0/16"


def test_the_harness_can_write_host_names_as_nodeaddr():
    # (pure: the multi-node tests run in this mode with KSI_SLURM_HOSTNAME_ADDRS=1, see conftest)
    from tests.slurm.harness import SlurmCluster

    c = SlurmCluster("/tmp/ksi-never-started", nodes=2, hostname_addrs=True, node_prefix="hn",
                     subnet="10.209.0")
    conf = c.render_slurm_conf("linuxproc")
    assert "NodeName=hn1 NodeHostname=hn1 NodeAddr=hn1-ib " in conf
    assert "10.209.0.12\thn2-ib" in c.render_hosts()
    assert "127.0.1.1\thn1" in c.render_hosts("hn1")  # Debian's mapping of the own name
    assert "127.0.1.1" not in c.render_hosts()
    default = SlurmCluster("/tmp/ksi-never-started", nodes=2)
    assert "NodeAddr=10.200.0.11 " in default.render_slurm_conf("linuxproc")
    assert default.client_prefix() == []
