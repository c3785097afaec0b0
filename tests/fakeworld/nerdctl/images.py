"""Images in the fake containerd: references, ``pull``, ``images``, ``image inspect``, ``load``, ``save``.

Upstream: distribution/reference ``normalize.go``/``regexp.go`` (``ParseNormalizedNamed``, its
``invalid reference format`` errors), containerd/nerdctl ``pkg/referenceutil/referenceutil.go``,
``pkg/cmd/image/list.go`` (table header), ``pkg/cmd/image/inspect.go`` (``no such image: X``),
``pkg/cmd/image/save.go`` (``image "X": not found``), ``pkg/imgutil/load/load.go``.

A pull succeeds for every valid reference except those listed in ``KSI_FAKE_MISSING_IMAGES``, which
fail like a registry answering "not found".

Every image is multi-platform, like kindest/node, busybox and Liqo's images: an OCI image index with
one manifest per platform in :data:`PLATFORMS`.  As in containerd, a pull fetches the content of this
machine's platform only (``--platform`` others, ``--all-platforms`` all); the record keeps which
platforms' content is present.  ``save`` writes what containerd's exporter writes
(``core/images/archive/exporter.go`` via nerdctl ``pkg/cmd/image/save.go``): an OCI layout
(``oci-layout``, ``index.json`` naming the image, ``blobs/sha256/...``) plus a docker
``manifest.json``; the image index is always the full one, but only the matching platforms' manifests,
configs and layers are written -- so without ``--all-platforms`` the archive references blobs it does
not hold (what ``ctr images import --all-platforms`` rejects: kind issues 3795, 4224), and
``--all-platforms`` needs every platform's content (``content digest ...: not found`` otherwise).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform as _platform
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.fakeworld.common import world as fw

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


class ReferenceError(ValueError):
    """A reference that distribution/reference rejects (message as upstream)."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str  # "latest" when neither tag nor digest was given
    digest: str

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        if self.domain != "docker.io":
            return self.name
        return self.path[len("library/") :] if self.path.startswith("library/") else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(raw: str) -> Reference:
    """``reference.ParseNormalizedNamed`` + ``TagNameOnly``."""
    if _HEX64.match(raw):
        raise ReferenceError(f"invalid repository name ({raw}), cannot specify 64-byte hexadecimal strings")
    slash = raw.find("/")
    if slash == -1 or (
        not any(c in raw[:slash] for c in ".:") and raw[:slash] != "localhost" and raw[:slash].lower() == raw[:slash]
    ):
        domain, remainder = "docker.io", raw
    else:
        domain, remainder = raw[:slash], raw[slash + 1 :]
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    repo = remainder.split("@", 1)[0]
    repo = repo.rsplit(":", 1)[0] if ":" in repo else repo
    if repo.lower() != repo:
        raise ReferenceError(f"invalid reference format: repository name ({repo}) must be lowercase")
    m = _REFERENCE.match(f"{domain}/{remainder}")
    if not m:
        raise ReferenceError("invalid reference format")
    if len(m.group(1)) > 255:
        raise ReferenceError("repository name must not be more than 255 characters")
    tag, digest = m.group(2) or "", m.group(3) or ""
    return Reference(domain, m.group(1)[len(domain) + 1 :], tag or ("" if digest else "latest"), digest)


def image_id(ref: Reference) -> str:
    if ref.digest:
        return ref.digest.split(":", 1)[1][:64].ljust(64, "0")
    return hashlib.sha256(str(ref).encode()).hexdigest()


def find_image(query: str) -> dict[str, Any] | None:
    """The stored image matching a reference or an ID prefix, like nerdctl's imagewalker."""
    images = [fw.read_json(p) for p in sorted(fw.images_dir().glob("*.json"))] if fw.images_dir().is_dir() else []
    images = [i for i in images if i]
    try:
        wanted: str | None = str(parse_reference(query))
    except ReferenceError:
        wanted = None
    for img in images:
        if wanted and img["ref"] == wanted:
            return img
    q = query.removeprefix("sha256:")
    if len(q) >= 3 and re.fullmatch(r"[a-f0-9]+", q):
        for img in images:
            if img["id"].startswith(q):
                return img
    return None


#: the platforms of every image's index (kindest/node v1.33.1 publishes these two)
PLATFORMS = ("linux/amd64", "linux/arm64")


def host_platform() -> str:
    machine = _platform.machine()
    return "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def store_image(ref: Reference, platforms: list[str] | None = None) -> dict[str, Any]:
    """Record ``ref`` with the content of ``platforms`` (default: this machine's) present."""
    old = fw.read_json(fw.image_path(str(ref))) or {}
    have = sorted(set(old.get("platforms") or []) | set(platforms or [host_platform()]))
    record = {"ref": str(ref), "id": image_id(ref), "created": old.get("created") or time.time(),
              "size": 1_021_000_000, "platforms": have}
    fw.write_json_atomic(fw.image_path(str(ref)), record)
    return record


def content_platforms(img: dict[str, Any]) -> list[str]:
    """Platforms whose content this containerd holds (records from before: this machine's)."""
    return list(img.get("platforms") or [host_platform()])


def pull(raw: str, err: IO[str], platforms: list[str] | None = None, all_platforms: bool = False) -> dict[str, Any]:
    """``nerdctl pull``; raises :class:`ReferenceError`/``LookupError`` with nerdctl's message."""
    ref = parse_reference(raw)
    shown = str(ref)
    if raw in fw.missing_images() or shown in fw.missing_images():
        err.write(f"{shown}: resolving      |--------------------------------------|\n")
        err.write("elapsed: 0.1 s" + " " * (len(shown) - 12) + "total:   0.0 B (0.0 B/s)\n")
        raise LookupError(f'failed to resolve reference "{shown}": {shown}: not found')
    wanted = list(PLATFORMS) if all_platforms else (platforms or [host_platform()])
    found = find_image(raw)
    if found is None or not set(wanted) <= set(content_platforms(found)):
        record = store_image(parse_reference(found["ref"]) if found else ref, wanted)
    else:
        record = found
    err.write(f"{shown}: resolved       |++++++++++++++++++++++++++++++++++++++|\n")
    err.write(f"elapsed: 0.1 s{' ' * max(1, len(shown) - 12)}total:  0.0 B (0.0 B/s)\n")
    return record


def _human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def list_images(quiet: bool, out: IO[str]) -> None:
    """``nerdctl images`` (table form)."""
    from tests.fakeworld.nerdctl.containers import human_duration, tabwrite  # shared helpers

    images = [fw.read_json(p) for p in sorted(fw.images_dir().glob("*.json"))] if fw.images_dir().is_dir() else []
    rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "PLATFORM", "SIZE", "BLOB SIZE"]]
    for img in images:
        if not img:
            continue
        if quiet:
            out.write(img["id"][:12] + "\n")
            continue
        ref = parse_reference(img["ref"])
        rows.append(
            [
                ref.familiar_name,
                ref.tag if ref.tag else "<none>",
                img["id"][:12],
                human_duration(time.time() - img["created"]) + " ago",
                "linux/amd64",
                _human_size(img["size"]),
                _human_size(img["size"] * 0.4),
            ]
        )
    if not quiet:
        out.write(tabwrite(rows))


def inspect_images(names: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Docker-compatible image inspect entries, and the names not found."""
    entries, missing = [], []
    for name in names:
        img = find_image(name)
        if img is None:
            missing.append(name)
            continue
        ref = parse_reference(img["ref"])
        entries.append(
            {
                "Id": f"sha256:{img['id']}",
                "RepoTags": [f"{ref.familiar_name}:{ref.tag or 'latest'}"],
                "RepoDigests": [f"{ref.familiar_name}@{ref.digest or 'sha256:' + img['id']}"],
                "Comment": "",
                "Created": fw.rfc3339(img["created"], nanos=True),
                "Author": "",
                "Config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                "Architecture": "amd64",
                "Os": "linux",
                "Size": img["size"],
                "RootFS": {"Type": "layers", "Layers": [f"sha256:{img['id']}"]},
                "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
            }
        )
    return entries, missing


def refs_in_archive(path: Path) -> list[str]:
    """Image names in a docker-archive (manifest.json RepoTags) or OCI archive (index.json)."""
    try:
        with tarfile.open(path) as tar:
            names = tar.getnames()
            # containerd's importer (nerdctl load) names images from index.json when there is
            # one (containerd core/images/archive/importer.go), manifest.json RepoTags otherwise
            if "index.json" not in names and "manifest.json" in names:
                member = tar.extractfile("manifest.json")
                manifest = json.load(member) if member else []
                return [t for entry in manifest for t in entry.get("RepoTags") or []]
            if "index.json" in names:
                member = tar.extractfile("index.json")
                index = json.load(member) if member else {}
                out = []
                for m in index.get("manifests", []):
                    ann = m.get("annotations") or {}
                    name = ann.get("io.containerd.image.name") or ann.get("org.opencontainers.image.ref.name")
                    if name:
                        out.append(name)
                return out
    except (tarfile.TarError, json.JSONDecodeError, OSError):
        pass
    raise ValueError("unrecognized image format")


def load_archive(path: Path, out: IO[str]) -> None:
    """``nerdctl load -i FILE``; raises OSError/ValueError with nerdctl's message."""
    if not path.exists():
        raise FileNotFoundError(f"open {path}: no such file or directory")
    for raw in refs_in_archive(path):
        ref = parse_reference(raw)
        store_image(ref)
        out.write(f"Loaded image: {ref}\n")


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _add(tar, f"blobs/sha256/{digest[7:]}", data)
    return digest


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _platform_blobs(img: dict[str, Any], plat: str) -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of ``img`` for ``plat``: small, deterministic stand-ins."""
    layer = f"layer of {img['ref']} for {plat}".encode()
    os_, arch = plat.split("/")
    config = json.dumps({"architecture": arch, "os": os_, "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer)}]}).encode()
    return layer, config, manifest


def _index(img: dict[str, Any]) -> bytes:
    manifests = []
    for plat in PLATFORMS:
        manifest = _platform_blobs(img, plat)[2]
        os_, arch = plat.split("/")
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
                          "platform": {"architecture": arch, "os": os_}})
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": manifests}).encode()


def save_archive(path: Path, names: list[str], platforms: list[str] | None = None, all_platforms: bool = False) -> None:
    """``nerdctl save -o FILE [--platform P | --all-platforms] REF...`` (see the module docstring)."""
    images = []
    for name in names:
        try:
            parse_reference(name)
        except ReferenceError as e:
            raise ValueError(f'invalid image name "{name}": {e}') from e
        img = find_image(name)
        if img is None:
            raise ValueError(f'image "{name}": not found')
        images.append(img)
    wanted = list(PLATFORMS) if all_platforms else (platforms or [host_platform()])
    for img in images:
        for plat in wanted:
            if plat not in content_platforms(img):
                missing = "sha256:" + hashlib.sha256(_platform_blobs(img, plat)[2]).hexdigest()
                raise ValueError(f"failed to get reader: content digest {missing}: not found")
    index_entries, docker_manifest = [], []
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for img in images:
            ref = parse_reference(img["ref"])
            for plat in wanted:
                layer, config, manifest = _platform_blobs(img, plat)
                layer_d, config_d = _blob(tar, layer), _blob(tar, config)
                _blob(tar, manifest)
                if plat == wanted[0]:
                    docker_manifest.append({"Config": f"blobs/sha256/{config_d[7:]}",
                                            "RepoTags": [f"{ref.familiar_name}:{ref.tag or 'latest'}"],
                                            "Layers": [f"blobs/sha256/{layer_d[7:]}"]})
            index = _index(img)
            # containerd's exporter (core/images/archive/exporter.go) names each image by its
            # target as stored: a pulled-by-digest image keeps the digest it was pinned by.  The
            # double's stand-in index cannot hash to that digest, so it is stored under it.
            digest = ref.digest or "sha256:" + hashlib.sha256(index).hexdigest()
            _add(tar, f"blobs/sha256/{digest[7:]}", index)
            index_entries.append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
                                  "size": len(index), "annotations": {
                                      "io.containerd.image.name": str(ref),
                                      "org.opencontainers.image.ref.name": ref.tag or "latest"}})
        _add(tar, "index.json", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                            "manifests": index_entries}).encode())
        _add(tar, "manifest.json", json.dumps(docker_manifest).encode())


def missing_blobs(path: Path) -> list[str]:
    """Digests an OCI archive references but does not hold, walking every platform
    (``ctr images import --all-platforms``: ``core/images/archive/importer.go`` + the
    ``images.Walk`` over all children, no platform filter)."""
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
        if "index.json" not in names:
            return []

        def read(digest: str) -> Any:
            member = tar.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            return json.load(member) if member else {}

        missing: list[str] = []
        todo = [m for m in json.load(tar.extractfile("index.json") or io.BytesIO(b"{}")).get("manifests", [])]
        while todo:
            desc = todo.pop(0)
            digest = desc.get("digest", "")
            if f"blobs/sha256/{digest.split(':', 1)[-1]}" not in names:
                missing.append(digest)
                continue
            media = desc.get("mediaType", "")
            if media.endswith("index.v1+json") or media.endswith("manifest.list.v2+json"):
                todo += read(digest).get("manifests", [])
            elif media.endswith("manifest.v1+json") or media.endswith("manifest.v2+json"):
                doc = read(digest)
                todo += [doc.get("config", {}), *doc.get("layers", [])]
        return missing
