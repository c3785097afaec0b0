"""Sites without internet or behind a proxy: the image cache, --load-image, proxies, bypass4netns."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from ksi import constants as C
from tests.conftest import WORKLOADS

PROBE = str(WORKLOADS / "probe.sh")


def docker_archive(path: Path, *tags: str) -> Path:
    data = json.dumps([{"Config": "blobs/sha256/x", "RepoTags": list(tags), "Layers": []}]).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def offline(world) -> dict[str, str]:
    """This node has no node image and cannot pull it."""
    for image in world.fake_root.glob("hosts/*/*/images/*.json"):
        image.unlink()
    return {"KSI_FAKE_MISSING_IMAGES": C.DEFAULT_NODE_IMAGE}


def test_images_save_fills_the_cache_and_an_offline_run_loads_the_node_image_from_it(world):
    res = world.ksi("images", "save")
    assert res.returncode == 0, res.stderr
    archive = world.shared / "images" / "kindest_node_v1.33.1.tar"
    assert res.stdout.strip() == f"saved {C.DEFAULT_NODE_IMAGE} to {archive}"
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    res = world.ksi("run", PROBE, str(world.base / "out"), env=offline(world))
    assert res.returncode == 0, res.stderr
    assert f"loaded {C.DEFAULT_NODE_IMAGE} from {archive}" in res.stderr


def test_an_offline_run_without_the_cache_fails_with_kinds_pull_error(world):
    res = world.ksi("run", PROBE, str(world.base / "out"), env=offline(world))
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    error = [line for line in res.stderr.splitlines() if line.startswith("ERROR:")][0]
    assert "`kind create cluster` failed" in error and "pull" in error, error


def test_load_image_puts_the_archives_into_the_cluster_before_the_workload(world):
    archive = docker_archive(world.base / "work" / "tools.tar", "busybox:1.36")
    script = world.base / "work" / "images.sh"
    script.write_text('cat "$KSI_FAKE_ROOT"/hosts/*/*/clusters/"$K8S_CLUSTER_NAME"/images.json'
                      ' > loaded.json\n')
    res = world.ksi("run", "--load-image", str(archive), str(script))
    assert res.returncode == 0, res.stderr
    loaded = json.loads((world.base / "work" / "loaded.json").read_text())
    assert list(loaded.values()) == [["docker.io/library/busybox:1.36"]]
    assert "✓ load images" in res.stderr


def test_ksi_load_images_takes_several_archives_separated_as_in_path(world):
    one = docker_archive(world.base / "work" / "one.tar", "busybox:1.36")
    two = docker_archive(world.base / "work" / "two.tar", "alpine:3.20")
    script = world.base / "work" / "images.sh"
    script.write_text('cat "$KSI_FAKE_ROOT"/hosts/*/*/clusters/"$K8S_CLUSTER_NAME"/images.json'
                      ' > loaded.json\n')
    res = world.ksi("run", str(script), env={"KSI_LOAD_IMAGES": f"{one}:{two}"})
    assert res.returncode == 0, res.stderr
    loaded = json.loads((world.base / "work" / "loaded.json").read_text())
    assert sorted(sum(loaded.values(), [])) == ["docker.io/library/alpine:3.20",
                                                "docker.io/library/busybox:1.36"]


def test_a_missing_load_image_archive_is_refused_up_front(world):
    res = world.ksi("run", "--load-image", "nope.tar", PROBE, "x")
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.startswith("ERROR: image archive nope.tar does not exist")
    assert not world.containers()


def test_behind_a_proxy_no_proxy_is_extended_for_the_cluster_and_the_api_still_answers(world):
    out = world.base / "out"
    env = {"HTTPS_PROXY": "http://proxy.invalid:3128", "NO_PROXY": "example.org"}
    res = world.ksi("run", PROBE, str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert (out / "curl.rc").read_text().strip() == "0", (out / "curl.err").read_text()
    seen = json.dumps(res.stderr)
    assert "proxy.invalid" not in seen
    script = world.base / "work" / "np.sh"
    script.write_text('echo "$NO_PROXY" > np.txt\n')
    res = world.ksi("run", str(script), env=env)
    assert res.returncode == 0, res.stderr
    items = (world.base / "work" / "np.txt").read_text().strip().split(",")
    assert items[0] == "example.org"
    assert {"localhost", "127.0.0.1"} <= set(items)
    assert any(i.startswith("100.64.") for i in items)  # the pod subnet


def test_bypass4netns_annotates_kinds_node_container_through_a_shim(world):
    res = world.ksi("run", "--keep", "--bypass4netns", PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    [container] = world.containers()
    annotations = container["annotations"]
    assert annotations["nerdctl/bypass4netns"] == "true"
    subnets = json.loads(annotations["nerdctl/bypass4netns-ignore-subnets"])
    assert any(s.startswith("100.64.") for s in subnets)
    name = container["labels"]["io.x-k8s.kind.cluster"]
    assert world.ksi("delete", name).returncode == 0


def test_without_bypass4netns_there_is_no_annotation(world):
    res = world.ksi("run", "--keep", PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    [container] = world.containers()
    assert not any(k.startswith("nerdctl/bypass4netns") for k in container["annotations"])
    assert world.ksi("delete", container["labels"]["io.x-k8s.kind.cluster"]).returncode == 0


def test_an_image_that_cannot_be_pulled_is_named_with_the_fix_while_the_workload_runs(world):
    from tests.fakeworld.kubeapi.events import image_pull_failure

    events = world.base / "work" / "events.json"
    items = image_pull_failure("ksi-workload", "hello-x1", "busybox:1.36")
    items += image_pull_failure("ksi-workload", "hello-x2", "busybox:1.36")  # said once
    events.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    script = world.base / "work" / "pull.sh"
    # the kubelet's part, played by the test (--validate=false: the double serves no OpenAPI
    # schema); then the workload waits as `kubectl wait` would
    script.write_text(f"kubectl create --validate=false -f {events} >/dev/null && sleep 5\n")
    res = world.ksi("run", str(script))
    assert res.returncode == 0, res.stderr
    archive = world.shared / "images" / "busybox_1.36.tar"
    hints = [line for line in res.stderr.splitlines() if "cannot be pulled" in line]
    assert hints == [f"[ksi] image busybox:1.36 cannot be pulled (pod ksi-workload/hello-x1: "
                     f"ErrImagePull); offline node? on a login node run `ksi images save "
                     f"busybox:1.36`, then `ksi run --load-image {archive} ...`"], res.stderr
