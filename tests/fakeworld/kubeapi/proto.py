"""Decode Kubernetes protobuf request bodies into the dicts the JSON API would carry.

kubectl's typed commands (``kubectl create job|deployment|namespace|serviceaccount|secret|
configmap|service|quota|role|...``) send ``Content-Type: application/vnd.kubernetes.protobuf``.
Such a body is the magic ``k8s\\x00`` and a ``runtime.Unknown`` message (typeMeta=1 {apiVersion=1,
kind=2}, raw=2, contentEncoding=3, contentType=4) whose ``raw`` is the object's message
(apimachinery ``pkg/runtime/serializer/protobuf/protobuf.go``).

``decode`` turns that into exactly what ``json.Marshal`` of the Go object gives, i.e. what
``kubectl create ... --dry-run=client -o json`` prints and what a JSON client would have POSTed:
gogo-protobuf writes every non-pointer field, zero or not, so the Go struct rules decide what the
JSON shows: a pointer field appears iff it was on the wire; a non-pointer ``omitempty`` scalar,
slice or map is dropped when zero/empty; a nil slice or map without ``omitempty`` is ``null``;
a struct always appears (``"status": {}``, ``"resources": {}``); ``metav1.Time`` is RFC 3339 in
UTC, whole seconds, ``null`` when zero (its proto ``Unmarshal`` drops the nanoseconds);
``resource.Quantity`` is its string; ``intstr.IntOrString`` is an int or a string; ``[]byte``
is base64; ``FieldsV1`` is its raw JSON; a ``json:",inline"`` struct is merged into its parent.

Strict on purpose: a field number the table does not know, a wire type that does not fit the
field, or an (apiVersion, kind) it has no message for raises ``ValueError`` naming the message
type and the field number -- a body is never silently cut short.

(``kubectl run`` and ``kubectl expose`` build unstructured objects and POST JSON, and
``kubectl delete`` sends its DeleteOptions as JSON: none of those need this module.)

``_SCHEMA`` was generated from k8s.io/api v0.33.9 ``{core,apps,batch,rbac}/v1/generated.proto``
and k8s.io/apimachinery v0.33.9 ``pkg/apis/meta/v1/generated.proto`` (plus ``authentication/v1``'s
TokenRequest) (field numbers, proto types,
repeated/map), cross-checked field by field against the ``types.go`` of the same versions (their
``protobuf:"..."`` struct tags carry the same numbers; their ``json:"..."`` tags and Go types give
the JSON name, ``omitempty``, pointer-ness and inlining). To add a message, copy its fields the
same way, in Go struct order. Entry: field number -> (JSON name, type, flags);
type is a scalar (string, bool, int32, int64, bytes), a message of the table, a special type
(Time, Quantity, IntOrString, FieldsV1), ``[]T`` (repeated) or ``map:T`` (map<string, T>);
flags: ``ptr`` (Go pointer), ``omit`` (``omitempty``), ``inline`` (embedded, merged).
It holds the transitive closure of the kinds in ``_KINDS``.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

_CORE = ("Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Pod", "ResourceQuota")
_RBAC = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
# (apiVersion, kind) -> message
_KINDS: dict[tuple[str, str], str] = {
    **{("v1", k): k for k in _CORE},
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("apps/v1", "Deployment"): "Deployment",
    **{("rbac.authorization.k8s.io/v1", k): k for k in _RBAC},
    # `kubectl create token` (k8s.io/api authentication/v1 generated.proto and types.go)
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
}

# runtime.Unknown and runtime.TypeMeta (apimachinery pkg/runtime/generated.proto), the envelope;
# the special types: metav1.Time/Timestamp (pkg/apis/meta/v1/generated.proto, time_proto.go),
# metav1.FieldsV1, resource.Quantity (pkg/api/resource/generated.proto: string=1) and
# intstr.IntOrString (pkg/util/intstr/generated.proto: type=1, intVal=2, strVal=3).
_UNKNOWN = {1: "typeMeta", 2: "raw", 3: "contentEncoding", 4: "contentType"}
_TYPEMETA = {1: "apiVersion", 2: "kind"}
_SPECIAL_FIELDS = {
    "Time": {1: "seconds", 2: "nanos"},
    "FieldsV1": {1: "Raw"},
    "Quantity": {1: "string"},
    "IntOrString": {1: "type", 2: "intVal", 3: "strVal"},
}
_ZERO_TIME = -62135596800  # time.Time{}.Unix(): 0001-01-01T00:00:00Z

_SCHEMA: dict[str, dict[int, tuple[str, str, str]]] = {
    "AWSElasticBlockStoreVolumeSource": {
        1: ("volumeID", "string", ""),
        2: ("fsType", "string", "omit"),
        3: ("partition", "int32", "omit"),
        4: ("readOnly", "bool", "omit"),
    },
    "Affinity": {
        1: ("nodeAffinity", "NodeAffinity", "ptr omit"),
        2: ("podAffinity", "PodAffinity", "ptr omit"),
        3: ("podAntiAffinity", "PodAntiAffinity", "ptr omit"),
    },
    "AggregationRule": {
        1: ("clusterRoleSelectors", "[]LabelSelector", "omit"),
    },
    "AppArmorProfile": {
        1: ("type", "string", ""),
        2: ("localhostProfile", "string", "ptr omit"),
    },
    "AzureDiskVolumeSource": {
        1: ("diskName", "string", ""),
        2: ("diskURI", "string", ""),
        3: ("cachingMode", "string", "ptr omit"),
        4: ("fsType", "string", "ptr omit"),
        5: ("readOnly", "bool", "ptr omit"),
        6: ("kind", "string", "ptr omit"),
    },
    "AzureFileVolumeSource": {
        1: ("secretName", "string", ""),
        2: ("shareName", "string", ""),
        3: ("readOnly", "bool", "omit"),
    },
    "BoundObjectReference": {
        1: ("kind", "string", "omit"),
        2: ("apiVersion", "string", "omit"),
        3: ("name", "string", "omit"),
        4: ("uid", "string", "omit"),
    },
    "CSIVolumeSource": {
        1: ("driver", "string", ""),
        2: ("readOnly", "bool", "ptr omit"),
        3: ("fsType", "string", "ptr omit"),
        4: ("volumeAttributes", "map:string", "omit"),
        5: ("nodePublishSecretRef", "LocalObjectReference", "ptr omit"),
    },
    "Capabilities": {
        1: ("add", "[]string", "omit"),
        2: ("drop", "[]string", "omit"),
    },
    "CephFSVolumeSource": {
        1: ("monitors", "[]string", ""),
        2: ("path", "string", "omit"),
        3: ("user", "string", "omit"),
        4: ("secretFile", "string", "omit"),
        5: ("secretRef", "LocalObjectReference", "ptr omit"),
        6: ("readOnly", "bool", "omit"),
    },
    "CinderVolumeSource": {
        1: ("volumeID", "string", ""),
        2: ("fsType", "string", "omit"),
        3: ("readOnly", "bool", "omit"),
        4: ("secretRef", "LocalObjectReference", "ptr omit"),
    },
    "ClientIPConfig": {
        1: ("timeoutSeconds", "int32", "ptr omit"),
    },
    "ClusterRole": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("rules", "[]PolicyRule", ""),
        3: ("aggregationRule", "AggregationRule", "ptr omit"),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("subjects", "[]Subject", "omit"),
        3: ("roleRef", "RoleRef", ""),
    },
    "ClusterTrustBundleProjection": {
        1: ("name", "string", "ptr omit"),
        2: ("signerName", "string", "ptr omit"),
        3: ("labelSelector", "LabelSelector", "ptr omit"),
        5: ("optional", "bool", "ptr omit"),
        4: ("path", "string", ""),
    },
    "Condition": {
        1: ("type", "string", ""),
        2: ("status", "string", ""),
        3: ("observedGeneration", "int64", "omit"),
        4: ("lastTransitionTime", "Time", ""),
        5: ("reason", "string", ""),
        6: ("message", "string", ""),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta", "omit"),
        4: ("immutable", "bool", "ptr omit"),
        2: ("data", "map:string", "omit"),
        3: ("binaryData", "map:bytes", "omit"),
    },
    "ConfigMapEnvSource": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("optional", "bool", "ptr omit"),
    },
    "ConfigMapKeySelector": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("key", "string", ""),
        3: ("optional", "bool", "ptr omit"),
    },
    "ConfigMapProjection": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("items", "[]KeyToPath", "omit"),
        4: ("optional", "bool", "ptr omit"),
    },
    "ConfigMapVolumeSource": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("items", "[]KeyToPath", "omit"),
        3: ("defaultMode", "int32", "ptr omit"),
        4: ("optional", "bool", "ptr omit"),
    },
    "Container": {
        1: ("name", "string", ""),
        2: ("image", "string", "omit"),
        3: ("command", "[]string", "omit"),
        4: ("args", "[]string", "omit"),
        5: ("workingDir", "string", "omit"),
        6: ("ports", "[]ContainerPort", "omit"),
        19: ("envFrom", "[]EnvFromSource", "omit"),
        7: ("env", "[]EnvVar", "omit"),
        8: ("resources", "ResourceRequirements", "omit"),
        23: ("resizePolicy", "[]ContainerResizePolicy", "omit"),
        24: ("restartPolicy", "string", "ptr omit"),
        9: ("volumeMounts", "[]VolumeMount", "omit"),
        21: ("volumeDevices", "[]VolumeDevice", "omit"),
        10: ("livenessProbe", "Probe", "ptr omit"),
        11: ("readinessProbe", "Probe", "ptr omit"),
        22: ("startupProbe", "Probe", "ptr omit"),
        12: ("lifecycle", "Lifecycle", "ptr omit"),
        13: ("terminationMessagePath", "string", "omit"),
        20: ("terminationMessagePolicy", "string", "omit"),
        14: ("imagePullPolicy", "string", "omit"),
        15: ("securityContext", "SecurityContext", "ptr omit"),
        16: ("stdin", "bool", "omit"),
        17: ("stdinOnce", "bool", "omit"),
        18: ("tty", "bool", "omit"),
    },
    "ContainerPort": {
        1: ("name", "string", "omit"),
        2: ("hostPort", "int32", "omit"),
        3: ("containerPort", "int32", ""),
        4: ("protocol", "string", "omit"),
        5: ("hostIP", "string", "omit"),
    },
    "ContainerResizePolicy": {
        1: ("resourceName", "string", ""),
        2: ("restartPolicy", "string", ""),
    },
    "ContainerState": {
        1: ("waiting", "ContainerStateWaiting", "ptr omit"),
        2: ("running", "ContainerStateRunning", "ptr omit"),
        3: ("terminated", "ContainerStateTerminated", "ptr omit"),
    },
    "ContainerStateRunning": {
        1: ("startedAt", "Time", "omit"),
    },
    "ContainerStateTerminated": {
        1: ("exitCode", "int32", ""),
        2: ("signal", "int32", "omit"),
        3: ("reason", "string", "omit"),
        4: ("message", "string", "omit"),
        5: ("startedAt", "Time", "omit"),
        6: ("finishedAt", "Time", "omit"),
        7: ("containerID", "string", "omit"),
    },
    "ContainerStateWaiting": {
        1: ("reason", "string", "omit"),
        2: ("message", "string", "omit"),
    },
    "ContainerStatus": {
        1: ("name", "string", ""),
        2: ("state", "ContainerState", "omit"),
        3: ("lastState", "ContainerState", "omit"),
        4: ("ready", "bool", ""),
        5: ("restartCount", "int32", ""),
        6: ("image", "string", ""),
        7: ("imageID", "string", ""),
        8: ("containerID", "string", "omit"),
        9: ("started", "bool", "ptr omit"),
        10: ("allocatedResources", "map:Quantity", "omit"),
        11: ("resources", "ResourceRequirements", "ptr omit"),
        12: ("volumeMounts", "[]VolumeMountStatus", "omit"),
        13: ("user", "ContainerUser", "ptr omit"),
        14: ("allocatedResourcesStatus", "[]ResourceStatus", "omit"),
        15: ("stopSignal", "string", "ptr omit"),
    },
    "ContainerUser": {
        1: ("linux", "LinuxContainerUser", "ptr omit"),
    },
    "CronJob": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "CronJobSpec", "omit"),
        3: ("status", "CronJobStatus", "omit"),
    },
    "CronJobSpec": {
        1: ("schedule", "string", ""),
        8: ("timeZone", "string", "ptr omit"),
        2: ("startingDeadlineSeconds", "int64", "ptr omit"),
        3: ("concurrencyPolicy", "string", "omit"),
        4: ("suspend", "bool", "ptr omit"),
        5: ("jobTemplate", "JobTemplateSpec", ""),
        6: ("successfulJobsHistoryLimit", "int32", "ptr omit"),
        7: ("failedJobsHistoryLimit", "int32", "ptr omit"),
    },
    "CronJobStatus": {
        1: ("active", "[]ObjectReference", "omit"),
        4: ("lastScheduleTime", "Time", "ptr omit"),
        5: ("lastSuccessfulTime", "Time", "ptr omit"),
    },
    "Deployment": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "DeploymentSpec", "omit"),
        3: ("status", "DeploymentStatus", "omit"),
    },
    "DeploymentCondition": {
        1: ("type", "string", ""),
        2: ("status", "string", ""),
        6: ("lastUpdateTime", "Time", "omit"),
        7: ("lastTransitionTime", "Time", "omit"),
        4: ("reason", "string", "omit"),
        5: ("message", "string", "omit"),
    },
    "DeploymentSpec": {
        1: ("replicas", "int32", "ptr omit"),
        2: ("selector", "LabelSelector", "ptr"),
        3: ("template", "PodTemplateSpec", ""),
        4: ("strategy", "DeploymentStrategy", "omit"),
        5: ("minReadySeconds", "int32", "omit"),
        6: ("revisionHistoryLimit", "int32", "ptr omit"),
        7: ("paused", "bool", "omit"),
        9: ("progressDeadlineSeconds", "int32", "ptr omit"),
    },
    "DeploymentStatus": {
        1: ("observedGeneration", "int64", "omit"),
        2: ("replicas", "int32", "omit"),
        3: ("updatedReplicas", "int32", "omit"),
        7: ("readyReplicas", "int32", "omit"),
        4: ("availableReplicas", "int32", "omit"),
        5: ("unavailableReplicas", "int32", "omit"),
        9: ("terminatingReplicas", "int32", "ptr omit"),
        6: ("conditions", "[]DeploymentCondition", "omit"),
        8: ("collisionCount", "int32", "ptr omit"),
    },
    "DeploymentStrategy": {
        1: ("type", "string", "omit"),
        2: ("rollingUpdate", "RollingUpdateDeployment", "ptr omit"),
    },
    "DownwardAPIProjection": {
        1: ("items", "[]DownwardAPIVolumeFile", "omit"),
    },
    "DownwardAPIVolumeFile": {
        1: ("path", "string", ""),
        2: ("fieldRef", "ObjectFieldSelector", "ptr omit"),
        3: ("resourceFieldRef", "ResourceFieldSelector", "ptr omit"),
        4: ("mode", "int32", "ptr omit"),
    },
    "DownwardAPIVolumeSource": {
        1: ("items", "[]DownwardAPIVolumeFile", "omit"),
        2: ("defaultMode", "int32", "ptr omit"),
    },
    "EmptyDirVolumeSource": {
        1: ("medium", "string", "omit"),
        2: ("sizeLimit", "Quantity", "ptr omit"),
    },
    "EnvFromSource": {
        1: ("prefix", "string", "omit"),
        2: ("configMapRef", "ConfigMapEnvSource", "ptr omit"),
        3: ("secretRef", "SecretEnvSource", "ptr omit"),
    },
    "EnvVar": {
        1: ("name", "string", ""),
        2: ("value", "string", "omit"),
        3: ("valueFrom", "EnvVarSource", "ptr omit"),
    },
    "EnvVarSource": {
        1: ("fieldRef", "ObjectFieldSelector", "ptr omit"),
        2: ("resourceFieldRef", "ResourceFieldSelector", "ptr omit"),
        3: ("configMapKeyRef", "ConfigMapKeySelector", "ptr omit"),
        4: ("secretKeyRef", "SecretKeySelector", "ptr omit"),
    },
    "EphemeralContainer": {
        1: ("", "EphemeralContainerCommon", "inline"),
        2: ("targetContainerName", "string", "omit"),
    },
    "EphemeralContainerCommon": {
        1: ("name", "string", ""),
        2: ("image", "string", "omit"),
        3: ("command", "[]string", "omit"),
        4: ("args", "[]string", "omit"),
        5: ("workingDir", "string", "omit"),
        6: ("ports", "[]ContainerPort", "omit"),
        19: ("envFrom", "[]EnvFromSource", "omit"),
        7: ("env", "[]EnvVar", "omit"),
        8: ("resources", "ResourceRequirements", "omit"),
        23: ("resizePolicy", "[]ContainerResizePolicy", "omit"),
        24: ("restartPolicy", "string", "ptr omit"),
        9: ("volumeMounts", "[]VolumeMount", "omit"),
        21: ("volumeDevices", "[]VolumeDevice", "omit"),
        10: ("livenessProbe", "Probe", "ptr omit"),
        11: ("readinessProbe", "Probe", "ptr omit"),
        22: ("startupProbe", "Probe", "ptr omit"),
        12: ("lifecycle", "Lifecycle", "ptr omit"),
        13: ("terminationMessagePath", "string", "omit"),
        20: ("terminationMessagePolicy", "string", "omit"),
        14: ("imagePullPolicy", "string", "omit"),
        15: ("securityContext", "SecurityContext", "ptr omit"),
        16: ("stdin", "bool", "omit"),
        17: ("stdinOnce", "bool", "omit"),
        18: ("tty", "bool", "omit"),
    },
    "EphemeralVolumeSource": {
        1: ("volumeClaimTemplate", "PersistentVolumeClaimTemplate", "ptr omit"),
    },
    "ExecAction": {
        1: ("command", "[]string", "omit"),
    },
    "FCVolumeSource": {
        1: ("targetWWNs", "[]string", "omit"),
        2: ("lun", "int32", "ptr omit"),
        3: ("fsType", "string", "omit"),
        4: ("readOnly", "bool", "omit"),
        5: ("wwids", "[]string", "omit"),
    },
    "FlexVolumeSource": {
        1: ("driver", "string", ""),
        2: ("fsType", "string", "omit"),
        3: ("secretRef", "LocalObjectReference", "ptr omit"),
        4: ("readOnly", "bool", "omit"),
        5: ("options", "map:string", "omit"),
    },
    "FlockerVolumeSource": {
        1: ("datasetName", "string", "omit"),
        2: ("datasetUUID", "string", "omit"),
    },
    "GCEPersistentDiskVolumeSource": {
        1: ("pdName", "string", ""),
        2: ("fsType", "string", "omit"),
        3: ("partition", "int32", "omit"),
        4: ("readOnly", "bool", "omit"),
    },
    "GRPCAction": {
        1: ("port", "int32", ""),
        2: ("service", "string", "ptr"),
    },
    "GitRepoVolumeSource": {
        1: ("repository", "string", ""),
        2: ("revision", "string", "omit"),
        3: ("directory", "string", "omit"),
    },
    "GlusterfsVolumeSource": {
        1: ("endpoints", "string", ""),
        2: ("path", "string", ""),
        3: ("readOnly", "bool", "omit"),
    },
    "HTTPGetAction": {
        1: ("path", "string", "omit"),
        2: ("port", "IntOrString", ""),
        3: ("host", "string", "omit"),
        4: ("scheme", "string", "omit"),
        5: ("httpHeaders", "[]HTTPHeader", "omit"),
    },
    "HTTPHeader": {
        1: ("name", "string", ""),
        2: ("value", "string", ""),
    },
    "HostAlias": {
        1: ("ip", "string", ""),
        2: ("hostnames", "[]string", "omit"),
    },
    "HostIP": {
        1: ("ip", "string", ""),
    },
    "HostPathVolumeSource": {
        1: ("path", "string", ""),
        2: ("type", "string", "ptr omit"),
    },
    "ISCSIVolumeSource": {
        1: ("targetPortal", "string", ""),
        2: ("iqn", "string", ""),
        3: ("lun", "int32", ""),
        4: ("iscsiInterface", "string", "omit"),
        5: ("fsType", "string", "omit"),
        6: ("readOnly", "bool", "omit"),
        7: ("portals", "[]string", "omit"),
        8: ("chapAuthDiscovery", "bool", "omit"),
        11: ("chapAuthSession", "bool", "omit"),
        10: ("secretRef", "LocalObjectReference", "ptr omit"),
        12: ("initiatorName", "string", "ptr omit"),
    },
    "ImageVolumeSource": {
        1: ("reference", "string", "omit"),
        2: ("pullPolicy", "string", "omit"),
    },
    "Job": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "JobSpec", "omit"),
        3: ("status", "JobStatus", "omit"),
    },
    "JobCondition": {
        1: ("type", "string", ""),
        2: ("status", "string", ""),
        3: ("lastProbeTime", "Time", "omit"),
        4: ("lastTransitionTime", "Time", "omit"),
        5: ("reason", "string", "omit"),
        6: ("message", "string", "omit"),
    },
    "JobSpec": {
        1: ("parallelism", "int32", "ptr omit"),
        2: ("completions", "int32", "ptr omit"),
        3: ("activeDeadlineSeconds", "int64", "ptr omit"),
        11: ("podFailurePolicy", "PodFailurePolicy", "ptr omit"),
        16: ("successPolicy", "SuccessPolicy", "ptr omit"),
        7: ("backoffLimit", "int32", "ptr omit"),
        12: ("backoffLimitPerIndex", "int32", "ptr omit"),
        13: ("maxFailedIndexes", "int32", "ptr omit"),
        4: ("selector", "LabelSelector", "ptr omit"),
        5: ("manualSelector", "bool", "ptr omit"),
        6: ("template", "PodTemplateSpec", ""),
        8: ("ttlSecondsAfterFinished", "int32", "ptr omit"),
        9: ("completionMode", "string", "ptr omit"),
        10: ("suspend", "bool", "ptr omit"),
        14: ("podReplacementPolicy", "string", "ptr omit"),
        15: ("managedBy", "string", "ptr omit"),
    },
    "JobStatus": {
        1: ("conditions", "[]JobCondition", "omit"),
        2: ("startTime", "Time", "ptr omit"),
        3: ("completionTime", "Time", "ptr omit"),
        4: ("active", "int32", "omit"),
        5: ("succeeded", "int32", "omit"),
        6: ("failed", "int32", "omit"),
        11: ("terminating", "int32", "ptr omit"),
        7: ("completedIndexes", "string", "omit"),
        10: ("failedIndexes", "string", "ptr omit"),
        8: ("uncountedTerminatedPods", "UncountedTerminatedPods", "ptr omit"),
        9: ("ready", "int32", "ptr omit"),
    },
    "JobTemplateSpec": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "JobSpec", "omit"),
    },
    "KeyToPath": {
        1: ("key", "string", ""),
        2: ("path", "string", ""),
        3: ("mode", "int32", "ptr omit"),
    },
    "LabelSelector": {
        1: ("matchLabels", "map:string", "omit"),
        2: ("matchExpressions", "[]LabelSelectorRequirement", "omit"),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string", ""),
        2: ("operator", "string", ""),
        3: ("values", "[]string", "omit"),
    },
    "Lifecycle": {
        1: ("postStart", "LifecycleHandler", "ptr omit"),
        2: ("preStop", "LifecycleHandler", "ptr omit"),
        3: ("stopSignal", "string", "ptr omit"),
    },
    "LifecycleHandler": {
        1: ("exec", "ExecAction", "ptr omit"),
        2: ("httpGet", "HTTPGetAction", "ptr omit"),
        3: ("tcpSocket", "TCPSocketAction", "ptr omit"),
        4: ("sleep", "SleepAction", "ptr omit"),
    },
    "LinuxContainerUser": {
        1: ("uid", "int64", ""),
        2: ("gid", "int64", ""),
        3: ("supplementalGroups", "[]int64", "omit"),
    },
    "LoadBalancerIngress": {
        1: ("ip", "string", "omit"),
        2: ("hostname", "string", "omit"),
        3: ("ipMode", "string", "ptr omit"),
        4: ("ports", "[]PortStatus", "omit"),
    },
    "LoadBalancerStatus": {
        1: ("ingress", "[]LoadBalancerIngress", "omit"),
    },
    "LocalObjectReference": {
        1: ("name", "string", "omit"),
    },
    "ManagedFieldsEntry": {
        1: ("manager", "string", "omit"),
        2: ("operation", "string", "omit"),
        3: ("apiVersion", "string", "omit"),
        4: ("time", "Time", "ptr omit"),
        6: ("fieldsType", "string", "omit"),
        7: ("fieldsV1", "FieldsV1", "ptr omit"),
        8: ("subresource", "string", "omit"),
    },
    "NFSVolumeSource": {
        1: ("server", "string", ""),
        2: ("path", "string", ""),
        3: ("readOnly", "bool", "omit"),
    },
    "Namespace": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "NamespaceSpec", "omit"),
        3: ("status", "NamespaceStatus", "omit"),
    },
    "NamespaceCondition": {
        1: ("type", "string", ""),
        2: ("status", "string", ""),
        4: ("lastTransitionTime", "Time", "omit"),
        5: ("reason", "string", "omit"),
        6: ("message", "string", "omit"),
    },
    "NamespaceSpec": {
        1: ("finalizers", "[]string", "omit"),
    },
    "NamespaceStatus": {
        1: ("phase", "string", "omit"),
        2: ("conditions", "[]NamespaceCondition", "omit"),
    },
    "NodeAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "NodeSelector", "ptr omit"),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]PreferredSchedulingTerm", "omit"),
    },
    "NodeSelector": {
        1: ("nodeSelectorTerms", "[]NodeSelectorTerm", ""),
    },
    "NodeSelectorRequirement": {
        1: ("key", "string", ""),
        2: ("operator", "string", ""),
        3: ("values", "[]string", "omit"),
    },
    "NodeSelectorTerm": {
        1: ("matchExpressions", "[]NodeSelectorRequirement", "omit"),
        2: ("matchFields", "[]NodeSelectorRequirement", "omit"),
    },
    "ObjectFieldSelector": {
        1: ("apiVersion", "string", "omit"),
        2: ("fieldPath", "string", ""),
    },
    "ObjectMeta": {
        1: ("name", "string", "omit"),
        2: ("generateName", "string", "omit"),
        3: ("namespace", "string", "omit"),
        4: ("selfLink", "string", "omit"),
        5: ("uid", "string", "omit"),
        6: ("resourceVersion", "string", "omit"),
        7: ("generation", "int64", "omit"),
        8: ("creationTimestamp", "Time", "omit"),
        9: ("deletionTimestamp", "Time", "ptr omit"),
        10: ("deletionGracePeriodSeconds", "int64", "ptr omit"),
        11: ("labels", "map:string", "omit"),
        12: ("annotations", "map:string", "omit"),
        13: ("ownerReferences", "[]OwnerReference", "omit"),
        14: ("finalizers", "[]string", "omit"),
        17: ("managedFields", "[]ManagedFieldsEntry", "omit"),
    },
    "ObjectReference": {
        1: ("kind", "string", "omit"),
        2: ("namespace", "string", "omit"),
        3: ("name", "string", "omit"),
        4: ("uid", "string", "omit"),
        5: ("apiVersion", "string", "omit"),
        6: ("resourceVersion", "string", "omit"),
        7: ("fieldPath", "string", "omit"),
    },
    "OwnerReference": {
        5: ("apiVersion", "string", ""),
        1: ("kind", "string", ""),
        3: ("name", "string", ""),
        4: ("uid", "string", ""),
        6: ("controller", "bool", "ptr omit"),
        7: ("blockOwnerDeletion", "bool", "ptr omit"),
    },
    "PersistentVolumeClaimSpec": {
        1: ("accessModes", "[]string", "omit"),
        4: ("selector", "LabelSelector", "ptr omit"),
        2: ("resources", "VolumeResourceRequirements", "omit"),
        3: ("volumeName", "string", "omit"),
        5: ("storageClassName", "string", "ptr omit"),
        6: ("volumeMode", "string", "ptr omit"),
        7: ("dataSource", "TypedLocalObjectReference", "ptr omit"),
        8: ("dataSourceRef", "TypedObjectReference", "ptr omit"),
        9: ("volumeAttributesClassName", "string", "ptr omit"),
    },
    "PersistentVolumeClaimTemplate": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "PersistentVolumeClaimSpec", ""),
    },
    "PersistentVolumeClaimVolumeSource": {
        1: ("claimName", "string", ""),
        2: ("readOnly", "bool", "omit"),
    },
    "PhotonPersistentDiskVolumeSource": {
        1: ("pdID", "string", ""),
        2: ("fsType", "string", "omit"),
    },
    "Pod": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "PodSpec", "omit"),
        3: ("status", "PodStatus", "omit"),
    },
    "PodAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "[]PodAffinityTerm", "omit"),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]WeightedPodAffinityTerm", "omit"),
    },
    "PodAffinityTerm": {
        1: ("labelSelector", "LabelSelector", "ptr omit"),
        2: ("namespaces", "[]string", "omit"),
        3: ("topologyKey", "string", ""),
        4: ("namespaceSelector", "LabelSelector", "ptr omit"),
        5: ("matchLabelKeys", "[]string", "omit"),
        6: ("mismatchLabelKeys", "[]string", "omit"),
    },
    "PodAntiAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "[]PodAffinityTerm", "omit"),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]WeightedPodAffinityTerm", "omit"),
    },
    "PodCondition": {
        1: ("type", "string", ""),
        7: ("observedGeneration", "int64", "omit"),
        2: ("status", "string", ""),
        3: ("lastProbeTime", "Time", "omit"),
        4: ("lastTransitionTime", "Time", "omit"),
        5: ("reason", "string", "omit"),
        6: ("message", "string", "omit"),
    },
    "PodDNSConfig": {
        1: ("nameservers", "[]string", "omit"),
        2: ("searches", "[]string", "omit"),
        3: ("options", "[]PodDNSConfigOption", "omit"),
    },
    "PodDNSConfigOption": {
        1: ("name", "string", "omit"),
        2: ("value", "string", "ptr omit"),
    },
    "PodFailurePolicy": {
        1: ("rules", "[]PodFailurePolicyRule", ""),
    },
    "PodFailurePolicyOnExitCodesRequirement": {
        1: ("containerName", "string", "ptr omit"),
        2: ("operator", "string", ""),
        3: ("values", "[]int32", ""),
    },
    "PodFailurePolicyOnPodConditionsPattern": {
        1: ("type", "string", ""),
        2: ("status", "string", ""),
    },
    "PodFailurePolicyRule": {
        1: ("action", "string", ""),
        2: ("onExitCodes", "PodFailurePolicyOnExitCodesRequirement", "ptr omit"),
        3: ("onPodConditions", "[]PodFailurePolicyOnPodConditionsPattern", "omit"),
    },
    "PodIP": {
        1: ("ip", "string", ""),
    },
    "PodOS": {
        1: ("name", "string", ""),
    },
    "PodReadinessGate": {
        1: ("conditionType", "string", ""),
    },
    "PodResourceClaim": {
        1: ("name", "string", ""),
        3: ("resourceClaimName", "string", "ptr omit"),
        4: ("resourceClaimTemplateName", "string", "ptr omit"),
    },
    "PodResourceClaimStatus": {
        1: ("name", "string", ""),
        2: ("resourceClaimName", "string", "ptr omit"),
    },
    "PodSchedulingGate": {
        1: ("name", "string", ""),
    },
    "PodSecurityContext": {
        1: ("seLinuxOptions", "SELinuxOptions", "ptr omit"),
        8: ("windowsOptions", "WindowsSecurityContextOptions", "ptr omit"),
        2: ("runAsUser", "int64", "ptr omit"),
        6: ("runAsGroup", "int64", "ptr omit"),
        3: ("runAsNonRoot", "bool", "ptr omit"),
        4: ("supplementalGroups", "[]int64", "omit"),
        12: ("supplementalGroupsPolicy", "string", "ptr omit"),
        5: ("fsGroup", "int64", "ptr omit"),
        7: ("sysctls", "[]Sysctl", "omit"),
        9: ("fsGroupChangePolicy", "string", "ptr omit"),
        10: ("seccompProfile", "SeccompProfile", "ptr omit"),
        11: ("appArmorProfile", "AppArmorProfile", "ptr omit"),
        13: ("seLinuxChangePolicy", "string", "ptr omit"),
    },
    "PodSpec": {
        1: ("volumes", "[]Volume", "omit"),
        20: ("initContainers", "[]Container", "omit"),
        2: ("containers", "[]Container", ""),
        34: ("ephemeralContainers", "[]EphemeralContainer", "omit"),
        3: ("restartPolicy", "string", "omit"),
        4: ("terminationGracePeriodSeconds", "int64", "ptr omit"),
        5: ("activeDeadlineSeconds", "int64", "ptr omit"),
        6: ("dnsPolicy", "string", "omit"),
        7: ("nodeSelector", "map:string", "omit"),
        8: ("serviceAccountName", "string", "omit"),
        9: ("serviceAccount", "string", "omit"),
        21: ("automountServiceAccountToken", "bool", "ptr omit"),
        10: ("nodeName", "string", "omit"),
        11: ("hostNetwork", "bool", "omit"),
        12: ("hostPID", "bool", "omit"),
        13: ("hostIPC", "bool", "omit"),
        27: ("shareProcessNamespace", "bool", "ptr omit"),
        14: ("securityContext", "PodSecurityContext", "ptr omit"),
        15: ("imagePullSecrets", "[]LocalObjectReference", "omit"),
        16: ("hostname", "string", "omit"),
        17: ("subdomain", "string", "omit"),
        18: ("affinity", "Affinity", "ptr omit"),
        19: ("schedulerName", "string", "omit"),
        22: ("tolerations", "[]Toleration", "omit"),
        23: ("hostAliases", "[]HostAlias", "omit"),
        24: ("priorityClassName", "string", "omit"),
        25: ("priority", "int32", "ptr omit"),
        26: ("dnsConfig", "PodDNSConfig", "ptr omit"),
        28: ("readinessGates", "[]PodReadinessGate", "omit"),
        29: ("runtimeClassName", "string", "ptr omit"),
        30: ("enableServiceLinks", "bool", "ptr omit"),
        31: ("preemptionPolicy", "string", "ptr omit"),
        32: ("overhead", "map:Quantity", "omit"),
        33: ("topologySpreadConstraints", "[]TopologySpreadConstraint", "omit"),
        35: ("setHostnameAsFQDN", "bool", "ptr omit"),
        36: ("os", "PodOS", "ptr omit"),
        37: ("hostUsers", "bool", "ptr omit"),
        38: ("schedulingGates", "[]PodSchedulingGate", "omit"),
        39: ("resourceClaims", "[]PodResourceClaim", "omit"),
        40: ("resources", "ResourceRequirements", "ptr omit"),
    },
    "PodStatus": {
        17: ("observedGeneration", "int64", "omit"),
        1: ("phase", "string", "omit"),
        2: ("conditions", "[]PodCondition", "omit"),
        3: ("message", "string", "omit"),
        4: ("reason", "string", "omit"),
        11: ("nominatedNodeName", "string", "omit"),
        5: ("hostIP", "string", "omit"),
        16: ("hostIPs", "[]HostIP", "omit"),
        6: ("podIP", "string", "omit"),
        12: ("podIPs", "[]PodIP", "omit"),
        7: ("startTime", "Time", "ptr omit"),
        10: ("initContainerStatuses", "[]ContainerStatus", "omit"),
        8: ("containerStatuses", "[]ContainerStatus", "omit"),
        9: ("qosClass", "string", "omit"),
        13: ("ephemeralContainerStatuses", "[]ContainerStatus", "omit"),
        14: ("resize", "string", "omit"),
        15: ("resourceClaimStatuses", "[]PodResourceClaimStatus", "omit"),
    },
    "PodTemplateSpec": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "PodSpec", "omit"),
    },
    "PolicyRule": {
        1: ("verbs", "[]string", ""),
        2: ("apiGroups", "[]string", "omit"),
        3: ("resources", "[]string", "omit"),
        4: ("resourceNames", "[]string", "omit"),
        5: ("nonResourceURLs", "[]string", "omit"),
    },
    "PortStatus": {
        1: ("port", "int32", ""),
        2: ("protocol", "string", ""),
        3: ("error", "string", "ptr omit"),
    },
    "PortworxVolumeSource": {
        1: ("volumeID", "string", ""),
        2: ("fsType", "string", "omit"),
        3: ("readOnly", "bool", "omit"),
    },
    "PreferredSchedulingTerm": {
        1: ("weight", "int32", ""),
        2: ("preference", "NodeSelectorTerm", ""),
    },
    "Probe": {
        1: ("", "ProbeHandler", "inline"),
        2: ("initialDelaySeconds", "int32", "omit"),
        3: ("timeoutSeconds", "int32", "omit"),
        4: ("periodSeconds", "int32", "omit"),
        5: ("successThreshold", "int32", "omit"),
        6: ("failureThreshold", "int32", "omit"),
        7: ("terminationGracePeriodSeconds", "int64", "ptr omit"),
    },
    "ProbeHandler": {
        1: ("exec", "ExecAction", "ptr omit"),
        2: ("httpGet", "HTTPGetAction", "ptr omit"),
        3: ("tcpSocket", "TCPSocketAction", "ptr omit"),
        4: ("grpc", "GRPCAction", "ptr omit"),
    },
    "ProjectedVolumeSource": {
        1: ("sources", "[]VolumeProjection", ""),
        2: ("defaultMode", "int32", "ptr omit"),
    },
    "QuobyteVolumeSource": {
        1: ("registry", "string", ""),
        2: ("volume", "string", ""),
        3: ("readOnly", "bool", "omit"),
        4: ("user", "string", "omit"),
        5: ("group", "string", "omit"),
        6: ("tenant", "string", "omit"),
    },
    "RBDVolumeSource": {
        1: ("monitors", "[]string", ""),
        2: ("image", "string", ""),
        3: ("fsType", "string", "omit"),
        4: ("pool", "string", "omit"),
        5: ("user", "string", "omit"),
        6: ("keyring", "string", "omit"),
        7: ("secretRef", "LocalObjectReference", "ptr omit"),
        8: ("readOnly", "bool", "omit"),
    },
    "ResourceClaim": {
        1: ("name", "string", ""),
        2: ("request", "string", "omit"),
    },
    "ResourceFieldSelector": {
        1: ("containerName", "string", "omit"),
        2: ("resource", "string", ""),
        3: ("divisor", "Quantity", "omit"),
    },
    "ResourceHealth": {
        1: ("resourceID", "string", ""),
        2: ("health", "string", "omit"),
    },
    "ResourceQuota": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "ResourceQuotaSpec", "omit"),
        3: ("status", "ResourceQuotaStatus", "omit"),
    },
    "ResourceQuotaSpec": {
        1: ("hard", "map:Quantity", "omit"),
        2: ("scopes", "[]string", "omit"),
        3: ("scopeSelector", "ScopeSelector", "ptr omit"),
    },
    "ResourceQuotaStatus": {
        1: ("hard", "map:Quantity", "omit"),
        2: ("used", "map:Quantity", "omit"),
    },
    "ResourceRequirements": {
        1: ("limits", "map:Quantity", "omit"),
        2: ("requests", "map:Quantity", "omit"),
        3: ("claims", "[]ResourceClaim", "omit"),
    },
    "ResourceStatus": {
        1: ("name", "string", ""),
        2: ("resources", "[]ResourceHealth", "omit"),
    },
    "Role": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("rules", "[]PolicyRule", ""),
    },
    "RoleBinding": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("subjects", "[]Subject", "omit"),
        3: ("roleRef", "RoleRef", ""),
    },
    "RoleRef": {
        1: ("apiGroup", "string", ""),
        2: ("kind", "string", ""),
        3: ("name", "string", ""),
    },
    "RollingUpdateDeployment": {
        1: ("maxUnavailable", "IntOrString", "ptr omit"),
        2: ("maxSurge", "IntOrString", "ptr omit"),
    },
    "SELinuxOptions": {
        1: ("user", "string", "omit"),
        2: ("role", "string", "omit"),
        3: ("type", "string", "omit"),
        4: ("level", "string", "omit"),
    },
    "ScaleIOVolumeSource": {
        1: ("gateway", "string", ""),
        2: ("system", "string", ""),
        3: ("secretRef", "LocalObjectReference", "ptr"),
        4: ("sslEnabled", "bool", "omit"),
        5: ("protectionDomain", "string", "omit"),
        6: ("storagePool", "string", "omit"),
        7: ("storageMode", "string", "omit"),
        8: ("volumeName", "string", "omit"),
        9: ("fsType", "string", "omit"),
        10: ("readOnly", "bool", "omit"),
    },
    "ScopeSelector": {
        1: ("matchExpressions", "[]ScopedResourceSelectorRequirement", "omit"),
    },
    "ScopedResourceSelectorRequirement": {
        1: ("scopeName", "string", ""),
        2: ("operator", "string", ""),
        3: ("values", "[]string", "omit"),
    },
    "SeccompProfile": {
        1: ("type", "string", ""),
        2: ("localhostProfile", "string", "ptr omit"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta", "omit"),
        5: ("immutable", "bool", "ptr omit"),
        2: ("data", "map:bytes", "omit"),
        4: ("stringData", "map:string", "omit"),
        3: ("type", "string", "omit"),
    },
    "SecretEnvSource": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("optional", "bool", "ptr omit"),
    },
    "SecretKeySelector": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("key", "string", ""),
        3: ("optional", "bool", "ptr omit"),
    },
    "SecretProjection": {
        1: ("", "LocalObjectReference", "inline"),
        2: ("items", "[]KeyToPath", "omit"),
        4: ("optional", "bool", "ptr omit"),
    },
    "SecretVolumeSource": {
        1: ("secretName", "string", "omit"),
        2: ("items", "[]KeyToPath", "omit"),
        3: ("defaultMode", "int32", "ptr omit"),
        4: ("optional", "bool", "ptr omit"),
    },
    "SecurityContext": {
        1: ("capabilities", "Capabilities", "ptr omit"),
        2: ("privileged", "bool", "ptr omit"),
        3: ("seLinuxOptions", "SELinuxOptions", "ptr omit"),
        10: ("windowsOptions", "WindowsSecurityContextOptions", "ptr omit"),
        4: ("runAsUser", "int64", "ptr omit"),
        8: ("runAsGroup", "int64", "ptr omit"),
        5: ("runAsNonRoot", "bool", "ptr omit"),
        6: ("readOnlyRootFilesystem", "bool", "ptr omit"),
        7: ("allowPrivilegeEscalation", "bool", "ptr omit"),
        9: ("procMount", "string", "ptr omit"),
        11: ("seccompProfile", "SeccompProfile", "ptr omit"),
        12: ("appArmorProfile", "AppArmorProfile", "ptr omit"),
    },
    "Service": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "ServiceSpec", "omit"),
        3: ("status", "ServiceStatus", "omit"),
    },
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("secrets", "[]ObjectReference", "omit"),
        3: ("imagePullSecrets", "[]LocalObjectReference", "omit"),
        4: ("automountServiceAccountToken", "bool", "ptr omit"),
    },
    "ServiceAccountTokenProjection": {
        1: ("audience", "string", "omit"),
        2: ("expirationSeconds", "int64", "ptr omit"),
        3: ("path", "string", ""),
    },
    "ServicePort": {
        1: ("name", "string", "omit"),
        2: ("protocol", "string", "omit"),
        6: ("appProtocol", "string", "ptr omit"),
        3: ("port", "int32", ""),
        4: ("targetPort", "IntOrString", "omit"),
        5: ("nodePort", "int32", "omit"),
    },
    "ServiceSpec": {
        1: ("ports", "[]ServicePort", "omit"),
        2: ("selector", "map:string", "omit"),
        3: ("clusterIP", "string", "omit"),
        18: ("clusterIPs", "[]string", "omit"),
        4: ("type", "string", "omit"),
        5: ("externalIPs", "[]string", "omit"),
        7: ("sessionAffinity", "string", "omit"),
        8: ("loadBalancerIP", "string", "omit"),
        9: ("loadBalancerSourceRanges", "[]string", "omit"),
        10: ("externalName", "string", "omit"),
        11: ("externalTrafficPolicy", "string", "omit"),
        12: ("healthCheckNodePort", "int32", "omit"),
        13: ("publishNotReadyAddresses", "bool", "omit"),
        14: ("sessionAffinityConfig", "SessionAffinityConfig", "ptr omit"),
        19: ("ipFamilies", "[]string", "omit"),
        17: ("ipFamilyPolicy", "string", "ptr omit"),
        20: ("allocateLoadBalancerNodePorts", "bool", "ptr omit"),
        21: ("loadBalancerClass", "string", "ptr omit"),
        22: ("internalTrafficPolicy", "string", "ptr omit"),
        23: ("trafficDistribution", "string", "ptr omit"),
    },
    "ServiceStatus": {
        1: ("loadBalancer", "LoadBalancerStatus", "omit"),
        2: ("conditions", "[]Condition", "omit"),
    },
    "SessionAffinityConfig": {
        1: ("clientIP", "ClientIPConfig", "ptr omit"),
    },
    "SleepAction": {
        1: ("seconds", "int64", ""),
    },
    "StorageOSVolumeSource": {
        1: ("volumeName", "string", "omit"),
        2: ("volumeNamespace", "string", "omit"),
        3: ("fsType", "string", "omit"),
        4: ("readOnly", "bool", "omit"),
        5: ("secretRef", "LocalObjectReference", "ptr omit"),
    },
    "Subject": {
        1: ("kind", "string", ""),
        2: ("apiGroup", "string", "omit"),
        3: ("name", "string", ""),
        4: ("namespace", "string", "omit"),
    },
    "SuccessPolicy": {
        1: ("rules", "[]SuccessPolicyRule", ""),
    },
    "SuccessPolicyRule": {
        1: ("succeededIndexes", "string", "ptr omit"),
        2: ("succeededCount", "int32", "ptr omit"),
    },
    "Sysctl": {
        1: ("name", "string", ""),
        2: ("value", "string", ""),
    },
    "TCPSocketAction": {
        1: ("port", "IntOrString", ""),
        2: ("host", "string", "omit"),
    },
    "TokenRequest": {
        1: ("metadata", "ObjectMeta", "omit"),
        2: ("spec", "TokenRequestSpec", ""),
        3: ("status", "TokenRequestStatus", "omit"),
    },
    "TokenRequestSpec": {
        1: ("audiences", "[]string", ""),
        4: ("expirationSeconds", "int64", "ptr"),
        3: ("boundObjectRef", "BoundObjectReference", "ptr"),
    },
    "TokenRequestStatus": {
        1: ("token", "string", ""),
        2: ("expirationTimestamp", "Time", ""),
    },
    "Toleration": {
        1: ("key", "string", "omit"),
        2: ("operator", "string", "omit"),
        3: ("value", "string", "omit"),
        4: ("effect", "string", "omit"),
        5: ("tolerationSeconds", "int64", "ptr omit"),
    },
    "TopologySpreadConstraint": {
        1: ("maxSkew", "int32", ""),
        2: ("topologyKey", "string", ""),
        3: ("whenUnsatisfiable", "string", ""),
        4: ("labelSelector", "LabelSelector", "ptr omit"),
        5: ("minDomains", "int32", "ptr omit"),
        6: ("nodeAffinityPolicy", "string", "ptr omit"),
        7: ("nodeTaintsPolicy", "string", "ptr omit"),
        8: ("matchLabelKeys", "[]string", "omit"),
    },
    "TypedLocalObjectReference": {
        1: ("apiGroup", "string", "ptr"),
        2: ("kind", "string", ""),
        3: ("name", "string", ""),
    },
    "TypedObjectReference": {
        1: ("apiGroup", "string", "ptr"),
        2: ("kind", "string", ""),
        3: ("name", "string", ""),
        4: ("namespace", "string", "ptr omit"),
    },
    "UncountedTerminatedPods": {
        1: ("succeeded", "[]string", "omit"),
        2: ("failed", "[]string", "omit"),
    },
    "Volume": {
        1: ("name", "string", ""),
        2: ("", "VolumeSource", "inline"),
    },
    "VolumeDevice": {
        1: ("name", "string", ""),
        2: ("devicePath", "string", ""),
    },
    "VolumeMount": {
        1: ("name", "string", ""),
        2: ("readOnly", "bool", "omit"),
        7: ("recursiveReadOnly", "string", "ptr omit"),
        3: ("mountPath", "string", ""),
        4: ("subPath", "string", "omit"),
        5: ("mountPropagation", "string", "ptr omit"),
        6: ("subPathExpr", "string", "omit"),
    },
    "VolumeMountStatus": {
        1: ("name", "string", ""),
        2: ("mountPath", "string", ""),
        3: ("readOnly", "bool", "omit"),
        4: ("recursiveReadOnly", "string", "ptr omit"),
    },
    "VolumeProjection": {
        1: ("secret", "SecretProjection", "ptr omit"),
        2: ("downwardAPI", "DownwardAPIProjection", "ptr omit"),
        3: ("configMap", "ConfigMapProjection", "ptr omit"),
        4: ("serviceAccountToken", "ServiceAccountTokenProjection", "ptr omit"),
        5: ("clusterTrustBundle", "ClusterTrustBundleProjection", "ptr omit"),
    },
    "VolumeResourceRequirements": {
        1: ("limits", "map:Quantity", "omit"),
        2: ("requests", "map:Quantity", "omit"),
    },
    "VolumeSource": {
        1: ("hostPath", "HostPathVolumeSource", "ptr omit"),
        2: ("emptyDir", "EmptyDirVolumeSource", "ptr omit"),
        3: ("gcePersistentDisk", "GCEPersistentDiskVolumeSource", "ptr omit"),
        4: ("awsElasticBlockStore", "AWSElasticBlockStoreVolumeSource", "ptr omit"),
        5: ("gitRepo", "GitRepoVolumeSource", "ptr omit"),
        6: ("secret", "SecretVolumeSource", "ptr omit"),
        7: ("nfs", "NFSVolumeSource", "ptr omit"),
        8: ("iscsi", "ISCSIVolumeSource", "ptr omit"),
        9: ("glusterfs", "GlusterfsVolumeSource", "ptr omit"),
        10: ("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource", "ptr omit"),
        11: ("rbd", "RBDVolumeSource", "ptr omit"),
        12: ("flexVolume", "FlexVolumeSource", "ptr omit"),
        13: ("cinder", "CinderVolumeSource", "ptr omit"),
        14: ("cephfs", "CephFSVolumeSource", "ptr omit"),
        15: ("flocker", "FlockerVolumeSource", "ptr omit"),
        16: ("downwardAPI", "DownwardAPIVolumeSource", "ptr omit"),
        17: ("fc", "FCVolumeSource", "ptr omit"),
        18: ("azureFile", "AzureFileVolumeSource", "ptr omit"),
        19: ("configMap", "ConfigMapVolumeSource", "ptr omit"),
        20: ("vsphereVolume", "VsphereVirtualDiskVolumeSource", "ptr omit"),
        21: ("quobyte", "QuobyteVolumeSource", "ptr omit"),
        22: ("azureDisk", "AzureDiskVolumeSource", "ptr omit"),
        23: ("photonPersistentDisk", "PhotonPersistentDiskVolumeSource", "ptr omit"),
        26: ("projected", "ProjectedVolumeSource", "ptr omit"),
        24: ("portworxVolume", "PortworxVolumeSource", "ptr omit"),
        25: ("scaleIO", "ScaleIOVolumeSource", "ptr omit"),
        27: ("storageos", "StorageOSVolumeSource", "ptr omit"),
        28: ("csi", "CSIVolumeSource", "ptr omit"),
        29: ("ephemeral", "EphemeralVolumeSource", "ptr omit"),
        30: ("image", "ImageVolumeSource", "ptr omit"),
    },
    "VsphereVirtualDiskVolumeSource": {
        1: ("volumePath", "string", ""),
        2: ("fsType", "string", "omit"),
        3: ("storagePolicyName", "string", "omit"),
        4: ("storagePolicyID", "string", "omit"),
    },
    "WeightedPodAffinityTerm": {
        1: ("weight", "int32", ""),
        2: ("podAffinityTerm", "PodAffinityTerm", ""),
    },
    "WindowsSecurityContextOptions": {
        1: ("gmsaCredentialSpecName", "string", "ptr omit"),
        2: ("gmsaCredentialSpec", "string", "ptr omit"),
        3: ("runAsUserName", "string", "ptr omit"),
        4: ("hostProcess", "bool", "ptr omit"),
    },
}


_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_SCALAR_WIRE = {"string": _LEN, "bytes": _LEN, "bool": _VARINT, "int32": _VARINT,
                "int64": _VARINT}


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON-shaped dict of a ``k8s\\x00``-framed protobuf body; ValueError when not decodable."""
    if not raw.startswith(MAGIC):
        raise ValueError("kubeproto: body does not start with the protobuf magic k8s\\x00")
    env = _scan(raw[len(MAGIC):], "runtime.Unknown", "")
    _known(env, _UNKNOWN, "runtime.Unknown", "")
    tm = _scan(b"".join(v for _, v in env.get(1, [])), "runtime.TypeMeta", "typeMeta")
    _known(tm, _TYPEMETA, "runtime.TypeMeta", "typeMeta")
    api_version = _str(tm, 1, "runtime.TypeMeta")
    kind = _str(tm, 2, "runtime.TypeMeta")
    encoding = _str(env, 3, "runtime.Unknown")
    ctype = _str(env, 4, "runtime.Unknown")
    if encoding:
        raise ValueError(f"kubeproto: runtime.Unknown contentEncoding {encoding!r} not supported")
    if ctype not in ("", PROTOBUF):
        raise ValueError(f"kubeproto: runtime.Unknown contentType {ctype!r} not supported")
    msg = _KINDS.get((api_version, kind))
    if msg is None:
        raise ValueError(f"kubeproto: no message known for apiVersion {api_version!r} "
                         f"kind {kind!r}")
    body = _last(env, 2, _LEN, "runtime.Unknown", "") or b""
    obj: dict[str, Any] = {}
    if kind:
        obj["kind"] = kind
    if api_version:
        obj["apiVersion"] = api_version
    obj.update(_message(msg, body, kind))
    return obj


# --- wire format -----------------------------------------------------------------------------

Fields = dict[int, list[tuple[int, Any]]]


def _varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError(f"kubeproto: truncated varint in {where}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError(f"kubeproto: varint too long in {where}")


def _scan(buf: bytes, msg: str, path: str) -> Fields:
    """Field number -> [(wire type, value)] in wire order (value: int or bytes)."""
    where = f"{msg} at {path or '<root>'}"
    out: Fields = {}
    pos = 0
    val: int | bytes
    while pos < len(buf):
        key, pos = _varint(buf, pos, where)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError(f"kubeproto: {msg} has an invalid field number 0 (at {path})")
        if wt == _VARINT:
            val, pos = _varint(buf, pos, where)
        elif wt == _LEN:
            n, pos = _varint(buf, pos, where)
            if pos + n > len(buf):
                raise ValueError(f"kubeproto: truncated field {num} in {where}")
            val, pos = buf[pos:pos + n], pos + n
        elif wt in (_I64, _I32):
            n = 8 if wt == _I64 else 4
            if pos + n > len(buf):
                raise ValueError(f"kubeproto: truncated field {num} in {where}")
            val, pos = int.from_bytes(buf[pos:pos + n], "little"), pos + n
        else:
            raise ValueError(f"kubeproto: {msg} field {num} has unsupported wire type {wt} "
                             f"(at {path})")
        out.setdefault(num, []).append((wt, val))
    return out


def _known(fields: Fields, names: dict[int, Any], msg: str, path: str) -> None:
    for num in fields:
        if num not in names:
            raise ValueError(f"kubeproto: {msg} has no field number {num} in the schema "
                             f"(at {path or '<root>'}); add it from generated.proto")


def _last(fields: Fields, num: int, wt: int, msg: str, path: str) -> Any:
    vals = fields.get(num)
    if not vals:
        return None
    for got, _ in vals:
        if got != wt:
            raise ValueError(f"kubeproto: {msg} field {num} has wire type {got}, "
                             f"expected {wt} (at {path or '<root>'})")
    return vals[-1][1]


def _str(fields: Fields, num: int, msg: str, path: str = "") -> str:
    v = _last(fields, num, _LEN, msg, path)
    return "" if v is None else v.decode("utf-8", "replace")


def _int(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _scalar(typ: str, v: Any) -> Any:
    if typ == "string":
        return v.decode("utf-8", "replace")
    if typ == "bytes":
        return base64.b64encode(v).decode("ascii")
    if typ == "bool":
        return v != 0
    return _int(v, 32 if typ == "int32" else 64)


# --- messages --------------------------------------------------------------------------------

_ZERO = {"string": "", "bool": False, "int32": 0, "int64": 0}


def _message(msg: str, buf: bytes, path: str) -> dict[str, Any]:
    schema = _SCHEMA[msg]
    fields = _scan(buf, msg, path)
    _known(fields, schema, msg, path)
    out: dict[str, Any] = {}
    for num, (name, typ, flags) in schema.items():
        here = f"{path}.{name}" if name else path
        vals = fields.get(num)
        if typ.startswith(("[]", "map:")):
            items = (_repeated(typ[2:], vals, msg, num, here) if typ.startswith("[]")
                     else _map(typ[4:], vals, msg, num, here))
            if items:
                out[name] = items
            elif "omit" not in flags:
                out[name] = None  # a nil slice or map
            continue
        if typ in _SCALAR_WIRE:
            v = _last(fields, num, _SCALAR_WIRE[typ], msg, here)
            if v is None and "ptr" in flags:
                if "omit" not in flags:
                    out[name] = None
                continue
            if v is None:
                if typ == "bytes":  # a nil []byte
                    if "omit" not in flags:
                        out[name] = None
                    continue
                val = _ZERO[typ]
            else:
                val = _scalar(typ, v)
            if "ptr" not in flags and "omit" in flags and val in ("", False, 0):
                continue
            out[name] = val
            continue
        # a message: every occurrence merges into one (protobuf merge semantics)
        if vals is None and "ptr" in flags:
            if "omit" not in flags:
                out[name] = None
            continue
        sub = b"".join(_check_len(vals or [], msg, num, here))
        val = _value(typ, sub, here)
        if "inline" in flags:
            out.update(val)
        else:
            out[name] = val
    return out


def _check_len(vals: list[tuple[int, Any]], msg: str, num: int, path: str) -> list[bytes]:
    for wt, _ in vals:
        if wt != _LEN:
            raise ValueError(f"kubeproto: {msg} field {num} has wire type {wt}, expected "
                             f"{_LEN} (at {path})")
    return [v for _, v in vals]


def _repeated(typ: str, vals: Any, msg: str, num: int, path: str) -> list[Any]:
    out: list[Any] = []
    for i, (wt, v) in enumerate(vals or []):
        if typ in ("int32", "int64", "bool") and wt == _LEN:  # packed
            pos = 0
            while pos < len(v):
                x, pos = _varint(v, pos, f"{msg} field {num}")
                out.append(_scalar(typ, x))
            continue
        want = _SCALAR_WIRE.get(typ, _LEN)
        if wt != want:
            raise ValueError(f"kubeproto: {msg} field {num} has wire type {wt}, expected "
                             f"{want} (at {path})")
        out.append(_scalar(typ, v) if typ in _SCALAR_WIRE else _value(typ, v, f"{path}[{i}]"))
    return out


def _map(typ: str, vals: Any, msg: str, num: int, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in _check_len(vals or [], msg, num, path):
        where = f"{msg} field {num} map entry"
        ef = _scan(entry, where, path)
        _known(ef, {1: "key", 2: "value"}, where, path)
        key = _str(ef, 1, where, path)
        if typ in _SCALAR_WIRE:
            v = _last(ef, 2, _SCALAR_WIRE[typ], where, path)
            out[key] = _scalar(typ, v) if v is not None else (
                "" if typ == "bytes" else _ZERO[typ])
        else:
            sub = b"".join(_check_len(ef.get(2, []), msg, num, path))
            out[key] = _value(typ, sub, f"{path}[{key}]")
    return out


def _value(typ: str, buf: bytes, path: str) -> Any:
    """The JSON of one message value (a table message or a special type)."""
    special = _SPECIAL_FIELDS.get(typ)
    if special is None:
        if typ not in _SCHEMA:
            raise ValueError(f"kubeproto: no schema for message type {typ} (at {path})")
        return _message(typ, buf, path)
    f = _scan(buf, typ, path)
    _known(f, special, typ, path)
    if typ == "Time":
        secs = _last(f, 1, _VARINT, typ, path)
        secs = 0 if secs is None else _int(secs, 64)
        if not buf or secs == _ZERO_TIME:  # time.Time{} (Unmarshal drops the nanoseconds)
            return None
        try:
            t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
        except OverflowError:
            raise ValueError(f"kubeproto: Time {secs}s out of range (at {path})") from None
        return f"{t.year:04d}-{t:%m-%dT%H:%M:%S}Z"
    if typ == "FieldsV1":
        raw = _last(f, 1, _LEN, typ, path)
        return None if raw is None else json.loads(raw)
    if typ == "Quantity":
        return _str(f, 1, typ, path) or "0"
    # IntOrString
    kind = _int(_last(f, 1, _VARINT, typ, path) or 0, 64)
    if kind == 0:
        return _int(_last(f, 2, _VARINT, typ, path) or 0, 32)
    if kind == 1:
        return _str(f, 3, typ, path)
    raise ValueError(f"kubeproto: IntOrString has impossible type {kind} (at {path})")
