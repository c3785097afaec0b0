"""Authentication and RBAC of the fake API server.

Upstream (kubernetes v1.33): client certificates give user = CN, groups = O (kubeadm >= 1.29 writes
admin.conf for ``kubernetes-admin`` in ``kubeadm:cluster-admins``, bound to ``cluster-admin``);
service-account tokens are JWTs with ``iss``/``aud`` ``https://kubernetes.default.svc.cluster.local``
and a ``kubernetes.io`` claim (``pkg/serviceaccount/claims.go``), rejected once expired or when the
service account is gone; a bad token is ``401 Unauthorized``; no credentials is ``system:anonymous``.
Authorization follows ``plugin/pkg/auth/authorizer/rbac`` (ClusterRoleBindings, RoleBindings, rule
matching) and ``apiserver/pkg/endpoints/handlers/responsewriters/errors.go`` (``forbiddenMessage``).
Tokens here are HMAC-signed (the header still says RS256); nobody outside this server checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakeworld.kubeapi.store import ApiError, Store

ISSUER = "https://kubernetes.default.svc.cluster.local"
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # set for non-resource requests

    @property
    def is_resource(self) -> bool:
        return not self.path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(key: bytes, namespace: str, sa: dict[str, Any], audiences: list[str], seconds: int, now: float) -> str:
    header = {"alg": "RS256", "kid": hashlib.sha256(key).hexdigest()[:43]}
    claims = {
        "aud": audiences, "exp": int(now) + seconds, "iat": int(now), "iss": ISSUER, "jti": str(uuid.uuid4()),
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": sa["metadata"]["name"], "uid": sa["metadata"]["uid"]}},
        "nbf": int(now), "sub": f"system:serviceaccount:{namespace}:{sa['metadata']['name']}",
    }
    signing = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    return signing + "." + _b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())


def authenticate(store: Store, key: bytes, peer_cert: dict[str, Any] | None, authorization: str) -> User:
    """The request's user; raises 401 for a bearer token that is not (or no longer) valid."""
    if authorization.startswith("Bearer "):
        claims = _verify(key, authorization[7:].strip())
        if claims is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        k8s = claims["kubernetes.io"]
        ns, sa = k8s["namespace"], k8s["serviceaccount"]
        stored = store.peek("", "serviceaccounts", ns, sa["name"])
        if stored is None or stored["metadata"]["uid"] != sa["uid"]:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return User(claims["sub"], ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"), sa["uid"])
    if authorization:
        raise ApiError(401, "Unauthorized", "Unauthorized")
    if peer_cert:
        subject = [kv for rdn in peer_cert.get("subject", ()) for kv in rdn]
        cn = next((v for k, v in subject if k == "commonName"), "")
        orgs = tuple(v for k, v in subject if k == "organizationName")
        return User(cn, (*orgs, "system:authenticated"))
    return ANONYMOUS


def _verify(key: bytes, token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = _b64(hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, json.JSONDecodeError):
        return None
    now = time.time()
    if claims.get("exp", 0) < now or claims.get("nbf", 0) > now + 60:
        return None
    return claims  # type: ignore[no-any-return]


def review_token(store: Store, key: bytes, token: str) -> dict[str, Any]:
    """TokenReview status."""
    try:
        user = authenticate(store, key, None, f"Bearer {token}")
    except ApiError:
        return {"authenticated": False, "error": "invalid bearer token"}
    return {"authenticated": True, "user": {"username": user.name, "uid": user.uid, "groups": list(user.groups)},
            "audiences": [ISSUER]}


# --- RBAC ---------------------------------------------------------------------------------------------


def _subject_matches(subject: dict[str, Any], user: User, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


def _rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    if not a.is_resource:
        return any(u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1])) for u in rule.get("nonResourceURLs") or [])
    if rule.get("nonResourceURLs"):
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and a.group not in groups:
        return False
    full = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    resources = rule.get("resources") or []
    if not any(r in ("*", full) or (a.subresource and r == f"*/{a.subresource}") for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def authorize(store: Store, user: User, a: Attributes) -> str | None:
    """None when denied, else a reason like RBAC's ``allowed by ClusterRoleBinding ...``."""
    if "system:masters" in user.groups:
        return "allowed by group system:masters"
    for crb in store.all(RBAC, "clusterrolebindings"):
        if not any(_subject_matches(s, user, "") for s in crb.get("subjects") or []):
            continue
        role = store.peek(RBAC, "clusterroles", "", crb.get("roleRef", {}).get("name", ""))
        if role and any(_rule_allows(r, a) for r in role.get("rules") or []):
            return f'RBAC: allowed by ClusterRoleBinding "{crb["metadata"]["name"]}" of ClusterRole "{role["metadata"]["name"]}"'
    if a.namespace and a.is_resource:
        for rb in store.all(RBAC, "rolebindings"):
            ns = rb["metadata"].get("namespace", "")
            if ns != a.namespace or not any(_subject_matches(s, user, ns) for s in rb.get("subjects") or []):
                continue
            ref = rb.get("roleRef", {})
            role = store.peek(RBAC, "clusterroles" if ref.get("kind") == "ClusterRole" else "roles",
                              "" if ref.get("kind") == "ClusterRole" else ns, ref.get("name", ""))
            if role and any(_rule_allows(r, a) for r in role.get("rules") or []):
                return f'RBAC: allowed by RoleBinding "{rb["metadata"]["name"]}/{ns}" of {ref.get("kind")} "{ref.get("name")}"'
    return None


def forbidden(user: User, a: Attributes, qualified: str) -> ApiError:
    """403 with the apiserver's ``forbiddenMessage`` wording."""
    if not a.is_resource:
        return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {a.verb} path "{a.path}"', {})
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    reason = f'User "{user.name}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'
    head = f'{qualified} "{a.name}"' if a.name else qualified
    details: dict[str, Any] = {"name": a.name} if a.name else {}
    if a.group:
        details["group"] = a.group
    details["kind"] = a.resource
    return ApiError(403, "Forbidden", f"{head} is forbidden: {reason}", details)
