"""Images in the fake containerd: references, ``pull``, ``images``, ``image inspect``, ``load``, ``save``.

Upstream: distribution/reference ``normalize.go``/``regexp.go`` (``ParseNormalizedNamed``, its
``invalid reference format`` errors), containerd/nerdctl ``pkg/referenceutil/referenceutil.go``,
``pkg/cmd/image/list.go`` (table header), ``pkg/cmd/image/inspect.go`` (``no such image: X``),
``pkg/cmd/image/save.go`` (``image "X": not found``), ``pkg/imgutil/load/load.go``.

A pull succeeds for every valid reference except those listed in ``KSI_FAKE_MISSING_IMAGES``, which
fail like a registry answering "not found".
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fakeworld as fw

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


def store_image(ref: Reference) -> dict[str, Any]:
    record = {"ref": str(ref), "id": image_id(ref), "created": time.time(), "size": 1_021_000_000}
    fw.write_json_atomic(fw.image_path(str(ref)), record)
    return record


def pull(raw: str, err: IO[str]) -> dict[str, Any]:
    """``nerdctl pull``; raises :class:`ReferenceError`/``LookupError`` with nerdctl's message."""
    ref = parse_reference(raw)
    shown = str(ref)
    if raw in fw.missing_images() or shown in fw.missing_images():
        err.write(f"{shown}: resolving      |--------------------------------------|\n")
        err.write("elapsed: 0.1 s" + " " * (len(shown) - 12) + "total:   0.0 B (0.0 B/s)\n")
        raise LookupError(f'failed to resolve reference "{shown}": {shown}: not found')
    record = find_image(raw) or store_image(ref)
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
    from nerdctl_containers import human_duration, tabwrite  # shared helpers

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


def save_archive(path: Path, names: list[str]) -> None:
    """``nerdctl save -o FILE REF...``: like containerd's exporter (core/images/archive/
    exporter.go), an OCI layout whose index.json names each image as stored (a pulled-by-digest
    image keeps its digest: annotation ``io.containerd.image.name``, descriptor digest), plus
    the docker-compatible manifest.json with RepoTags."""
    manifest = []
    index = []
    for name in names:
        try:
            parse_reference(name)
        except ReferenceError as e:
            raise ValueError(f'invalid image name "{name}": {e}') from e
        img = find_image(name)
        if img is None:
            raise ValueError(f'image "{name}": not found')
        ref = parse_reference(img["ref"])
        manifest.append({"Config": f"blobs/sha256/{img['id']}", "RepoTags": [f"{ref.familiar_name}:{ref.tag or 'latest'}"], "Layers": []})
        index.append({"mediaType": "application/vnd.oci.image.index.v1+json",
                      "digest": ref.digest or f"sha256:{img['id']}", "size": 0,
                      "annotations": {"io.containerd.image.name": str(ref),
                                      "org.opencontainers.image.ref.name": ref.tag or "latest"}})
    files = {"manifest.json": json.dumps(manifest).encode(),
             "index.json": json.dumps({"schemaVersion": 2, "manifests": index}).encode(),
             "oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
