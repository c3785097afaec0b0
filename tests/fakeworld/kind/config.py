"""kind's cluster config: strict decoding, defaulting and validation, with kind's error messages.

Upstream (kubernetes-sigs/kind v0.29.0): ``pkg/internal/apis/config/encoding/load.go`` (``unknown
apiVersion: X``, ``unknown kind X for apiVersion: Y``, ``unable to decode config: ...`` from go-yaml v3
with ``KnownFields(true)``: ``yaml: unmarshal errors:\\n  line N: field F not found in type
v1alpha4.Cluster``), ``pkg/apis/config/v1alpha4/types.go`` + ``yaml.go`` (fields; ``Unknown
PortMappingProtocol``/``Unknown MountPropagation``), ``pkg/apis/config/v1alpha4/default.go`` and
``pkg/internal/apis/config/default.go`` (defaults), ``pkg/internal/apis/config/validate.go``
(every validation message), ``pkg/apis/config/defaults/image.go`` (default node image).
YAML scalars are resolved with YAML 1.2 core rules, as go-yaml v3 does (``yes`` is a string).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_IMAGE = "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
DEFAULT_NAME = "kind"
API_VERSION = "kind.x-k8s.io/v1alpha4"


class ConfigError(Exception):
    """A config problem, worded as kind prints it after ``ERROR: failed to create cluster: ``."""


# --- a go-yaml v3 style strict decoder over PyYAML's node graph ------------------------------------------

STR, INT32, BOOL, STRMAP, BOOLMAP, STRLIST = "string", "int32", "bool", "map[string]string", "map[string]bool", "[]string"
TYPES: dict[str, dict[str, Any]] = {
    "v1alpha4.Cluster": {"kind": STR, "apiVersion": STR, "name": STR, "nodes": ["v1alpha4.Node"], "networking": "v1alpha4.Networking",
                         "featureGates": BOOLMAP, "runtimeConfig": STRMAP, "kubeadmConfigPatches": STRLIST,
                         "kubeadmConfigPatchesJSON6902": ["v1alpha4.PatchJSON6902"], "containerdConfigPatches": STRLIST,
                         "containerdConfigPatchesJSON6902": STRLIST},
    "v1alpha4.Node": {"role": STR, "image": STR, "labels": STRMAP, "extraMounts": ["v1alpha4.MountAlias"],
                      "extraPortMappings": ["v1alpha4.PortMappingAlias"], "kubeadmConfigPatches": STRLIST,
                      "kubeadmConfigPatchesJSON6902": ["v1alpha4.PatchJSON6902"]},
    "v1alpha4.Networking": {"ipFamily": STR, "apiServerPort": INT32, "apiServerAddress": STR, "podSubnet": STR, "serviceSubnet": STR,
                            "disableDefaultCNI": BOOL, "kubeProxyMode": STR, "dnsSearch": STRLIST},
    "v1alpha4.PatchJSON6902": {"group": STR, "version": STR, "kind": STR, "patch": STR},
    "v1alpha4.MountAlias": {"containerPath": STR, "hostPath": STR, "readOnly": BOOL, "selinuxRelabel": BOOL, "propagation": STR},
    "v1alpha4.PortMappingAlias": {"containerPort": INT32, "hostPort": INT32, "listenAddress": STR, "protocol": STR},
}

_NULL = re.compile(r"^(~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|0[0-7_]+)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")


def _tag(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    if node.style in ("'", '"', "|", ">"):
        return "!!str"
    v = node.value
    for tag, rx in (("!!null", _NULL), ("!!bool", _BOOL), ("!!int", _INT), ("!!float", _FLOAT)):
        if rx.match(v):
            return tag
    return "!!str"


class _Decoder:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, node: yaml.Node, into: str) -> None:
        tag = _tag(node)
        shown = f"{tag} `{node.value}`" if isinstance(node, yaml.ScalarNode) else tag
        self.errors.append(f"line {node.start_mark.line + 1}: cannot unmarshal {shown} into {into}")

    def decode(self, node: yaml.Node, typ: Any) -> Any:
        tag = _tag(node)
        if tag == "!!null":
            return None
        if isinstance(typ, list):
            if tag != "!!seq":
                self.fail(node, f"[]{typ[0]}")
                return None
            return [self.decode(item, typ[0]) for item in node.value]
        if typ in TYPES:
            if tag != "!!map":
                self.fail(node, typ)
                return None
            out: dict[str, Any] = {}
            seen: dict[str, int] = {}
            for k, v in node.value:
                key = k.value
                if key in seen:
                    self.errors.append(f'line {k.start_mark.line + 1}: mapping key "{key}" already defined at line {seen[key]}')
                    continue
                seen[key] = k.start_mark.line + 1
                if key not in TYPES[typ]:
                    self.errors.append(f"line {k.start_mark.line + 1}: field {key} not found in type {typ}")
                    continue
                out[key] = self.decode(v, TYPES[typ][key])
            return out
        if typ in (STRMAP, BOOLMAP):
            if tag != "!!map":
                self.fail(node, typ)
                return None
            return {k.value: self.decode(v, STR if typ == STRMAP else BOOL) for k, v in node.value}
        if typ == STRLIST:
            return self.decode(node, [STR])
        if tag in ("!!map", "!!seq"):
            self.fail(node, typ)
            return None
        if typ == STR:
            return node.value
        if typ == BOOL:
            if tag != "!!bool":
                self.fail(node, "bool")
                return None
            return node.value.lower() == "true"
        if typ == INT32:
            if tag != "!!int":
                self.fail(node, "int32")
                return None
            n = int(node.value.replace("_", ""), 0) if not re.match(r"^[-+]?0[0-7]", node.value) else int(node.value, 8)
            if not -(2**31) <= n < 2**31:
                self.fail(node, "int32")
                return None
            return n
        raise AssertionError(typ)


def _first_document(raw: str) -> yaml.Node | None:
    try:
        return next(iter(yaml.compose_all(raw, Loader=yaml.BaseLoader)), None)
    except yaml.MarkedYAMLError as e:
        line = (e.problem_mark.line + 1) if e.problem_mark else 0
        raise ConfigError(f"yaml: line {line}: {e.problem}") from e


# --- load, default, validate -------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The internal config after defaulting (plain dicts inside, keys as in the YAML)."""

    name: str
    nodes: list[dict[str, Any]]
    networking: dict[str, Any]
    kubeadm_patches: list[str]
    kubeadm_patches_6902: list[dict[str, Any]]
    raw: dict[str, Any]


def load(path: str | None, stdin_text: str | None = None) -> dict[str, Any]:
    """``encoding.Load``: the decoded v1alpha4 document ({} for no config)."""
    if path is None:
        return {}
    if stdin_text is not None:
        raw = stdin_text
    else:
        try:
            raw = Path(path).read_text()
        except FileNotFoundError as e:
            raise ConfigError(f"error reading file: open {path}: no such file or directory") from e
        except IsADirectoryError as e:
            raise ConfigError(f"error reading file: read {path}: is a directory") from e
    try:
        doc = _first_document(raw)
    except ConfigError as e:
        raise ConfigError(f"could not determine kind / apiVersion for config: {e}") from e
    meta = {}
    if isinstance(doc, yaml.MappingNode):
        meta = {k.value: v.value for k, v in doc.value if isinstance(v, yaml.ScalarNode) and k.value in ("kind", "apiVersion")}
    elif doc is not None and _tag(doc) != "!!null":
        raise ConfigError(f"could not determine kind / apiVersion for config: yaml: unmarshal errors:\n  line 1: cannot unmarshal {_tag(doc)} "
                          f"{'`' + doc.value + '` ' if isinstance(doc, yaml.ScalarNode) else ''}into encoding.typeMeta")
    if meta.get("apiVersion", "") != API_VERSION:
        raise ConfigError(f"unknown apiVersion: {meta.get('apiVersion', '')}")
    if meta.get("kind", "") != "Cluster":
        raise ConfigError(f"unknown kind {meta.get('kind', '')} for apiVersion: {API_VERSION}")
    dec = _Decoder()
    out = dec.decode(doc, "v1alpha4.Cluster") or {}
    if not dec.errors:
        for node in out.get("nodes") or []:
            for pm in (node or {}).get("extraPortMappings") or []:
                proto = str((pm or {}).get("protocol") or "").upper()
                if proto not in ("", "TCP", "UDP", "SCTP"):
                    raise ConfigError(f'unable to decode config: Unknown PortMappingProtocol: "{proto}"')
                if pm is not None:
                    pm["protocol"] = proto
            for m in (node or {}).get("extraMounts") or []:
                prop = (m or {}).get("propagation") or ""
                if prop not in ("", "None", "HostToContainer", "Bidirectional"):
                    raise ConfigError(f'unable to decode config: Unknown MountPropagation: "{prop}"')
    if dec.errors:
        raise ConfigError("unable to decode config: yaml: unmarshal errors:\n  " + "\n  ".join(dec.errors))
    return out


def defaulted(doc: dict[str, Any], name_override: str, image_override: str) -> Cluster:
    """``SetDefaultsCluster`` + the CLI's name and image overrides (create.go ``fixupOptions``)."""
    net = dict(doc.get("networking") or {})
    fam = net.get("ipFamily") or "ipv4"
    net["ipFamily"] = fam
    net.setdefault("apiServerPort", 0)
    net["apiServerPort"] = net["apiServerPort"] or 0
    net["apiServerAddress"] = net.get("apiServerAddress") or ("::1" if fam == "ipv6" else "127.0.0.1")
    pods = {"ipv6": "fd00:10:244::/56", "dual": "10.244.0.0/16,fd00:10:244::/56"}.get(fam, "10.244.0.0/16")
    svcs = {"ipv6": "fd00:10:96::/112", "dual": "10.96.0.0/16,fd00:10:96::/112"}.get(fam, "10.96.0.0/16")
    net["podSubnet"] = net.get("podSubnet") or pods
    net["serviceSubnet"] = net.get("serviceSubnet") or svcs
    net["kubeProxyMode"] = net.get("kubeProxyMode") or "iptables"
    nodes = [dict(n or {}) for n in (doc.get("nodes") or [])] or [{}]
    for n in nodes:
        n["image"] = image_override or n.get("image") or DEFAULT_IMAGE
        n["role"] = n.get("role") or "control-plane"
        n["extraPortMappings"] = [dict(p or {}) for p in n.get("extraPortMappings") or []]
        n["extraMounts"] = [dict(m or {}) for m in n.get("extraMounts") or []]
    return Cluster(
        name=name_override or doc.get("name") or DEFAULT_NAME, nodes=nodes, networking=net,
        kubeadm_patches=list(doc.get("kubeadmConfigPatches") or []),
        kubeadm_patches_6902=list(doc.get("kubeadmConfigPatchesJSON6902") or []), raw=doc,
    )


def _aggregate(errs: list[str]) -> str:
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


def _port_error(port: Any) -> str | None:
    p = int(port or 0)
    return f"invalid port number: {p}" if p < -1 or p > 65535 else None


def _parse_ip(text: str) -> str:
    """Go's ``net.ParseIP(x).String()`` (``<nil>`` when unparsable)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return "<nil>"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)


def _port_mappings_error(mappings: list[dict[str, Any]]) -> str | None:
    bind: dict[str, set[str]] = {}
    for pm in mappings:
        hp = int(pm.get("hostPort") or 0)
        if hp in (-1, 0):
            continue
        addr = _parse_ip(pm.get("listenAddress") or "")
        pp = f"{hp}/{pm.get('protocol') or ''}"
        err = f"port mapping with same listen address, port and protocol already configured: {addr}:{pp}"
        if addr == "::":
            addr = "0.0.0.0"
        if pp in bind:
            if addr == "0.0.0.0" and bind[pp]:
                return err
            if addr in bind[pp] or "0.0.0.0" in bind[pp]:
                return err
        bind.setdefault(pp, set()).add(addr)
    return None


def _subnet_error(text: str, family: str) -> str | None:
    nets = []
    for c in text.split(","):
        try:
            if "/" not in c:
                raise ValueError
            nets.append(ipaddress.ip_interface(c).network)
        except ValueError:
            return f'failed to parse cidr value:"{c}" with error: invalid CIDR address: {c}'
    dual = family == "dual"
    if dual and len(nets) > 2 or dual and len(nets) == 2 and {n.version for n in nets} != {4, 6}:
        return "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking"
    if not dual and len(nets) > 1:
        return "only one CIDR allowed for single-stack networking"
    if family == "ipv4" and nets[0].version != 4:
        return "expected IPv4 CIDR for IPv4 family"
    if family == "ipv6" and nets[0].version != 6:
        return "expected IPv6 CIDR for IPv6 family"
    return None


def validate(c: Cluster) -> None:
    """``Cluster.Validate``; raises ConfigError with kind's aggregate message."""
    errs: list[str] = []
    if not re.fullmatch(r"[a-z0-9.-]+", c.name):
        errs.append(f"'{c.name}' is not a valid cluster name, cluster names must match `^[a-z0-9.-]+$`")
    net = c.networking
    if net["apiServerPort"] != 0 and (e := _port_error(net["apiServerPort"])):
        errs.append(f"invalid apiServerPort: {e}")
    fam = net["ipFamily"]
    if fam not in ("ipv4", "ipv6", "dual"):
        errs.append(f"invalid ipFamily: {fam}")
    if e := _subnet_error(net["podSubnet"], fam):
        errs.append(f"invalid pod subnet {e}")
    if e := _subnet_error(net["serviceSubnet"], fam):
        errs.append(f"invalid service subnet {e}")
    if net["kubeProxyMode"] not in ("iptables", "ipvs", "none", "nftables"):
        errs.append(f"invalid kubeProxyMode: {net['kubeProxyMode']}")
    for i, n in enumerate(c.nodes):
        nerrs = []
        if n["role"] not in ("control-plane", "worker"):
            nerrs.append(f'"{n["role"]}" is not a valid node role')
        for pm in n["extraPortMappings"]:
            if e := _port_error(pm.get("hostPort")):
                nerrs.append(f"invalid hostPort: {e}")
            if e := _port_error(pm.get("containerPort")):
                nerrs.append(f"invalid containerPort: {e}")
        if e := _port_mappings_error(n["extraPortMappings"]):
            nerrs.append(f"invalid portMapping: {e}")
        if nerrs:
            errs.append(f"invalid configuration for node {i}: {_aggregate(nerrs)}")
    if not any(n["role"] == "control-plane" for n in c.nodes):
        errs.append("must have at least one control-plane node")
    if errs:
        raise ConfigError(_aggregate(errs))
