"""apps/v1 Deployments and ReplicaSets, and the deployment and replicaset controllers of kube-controller-manager.

The controllers are ports of the 1.20 ones (pkg/controller/deployment, pkg/controller/replicaset), so that what a
client observes matches a real cluster: the ReplicaSet is named `<deployment>-<pod-template-hash>` with the same
hash (Go's spew dump of the pod template, FNV-32a, the safe alphabet), the revision and replica annotations, the
rolling update's surge/unavailable arithmetic, and the status counters and conditions with their reasons and
messages. Pods are Ready only when someone (a kubelet, or a test) writes that into their status.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kube.context import WriteContext, now_rfc3339
from ack_compute.sandbox.kube.objects import DeleteOptions
from ack_compute.sandbox.kube.patch import PATCH_TYPES, apply_patch, invalid_patch_body
from ack_compute.sandbox.kube.pods import POD, default_pod_spec, validate_pod_spec
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.selectors import LabelSelector, Requirement
from ack_compute.sandbox.kube.status import (
    FieldError,
    GoLiteral,
    GroupResource,
    StatusError,
    bad_request,
    forbidden,
    invalid,
    invalid_object,
    method_not_allowed,
    not_found,
    not_supported,
    required,
    stale_object,
    unsupported_media_type,
)
from ack_compute.sandbox.kube.store import Obj, clone
from ack_compute.sandbox.kube.validation import (
    label_key,
    label_value,
    name_is_dns_subdomain,
    validate_annotations,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster

log = logging.getLogger("ack_compute.sandbox.kube")

CONTROLLER_MANAGER = "kube-controller-manager"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
# Deployment condition reasons (pkg/controller/deployment/util).
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
MAX_REVISION_HISTORY_CHARS = 2000
BURST_REPLICAS = 500
MAX_INT32 = 2**31 - 1
_SKIPPED_ANNOTATIONS = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# --- pod-template-hash ----------------------------------------------------------------------------------------
#
# controller.ComputeHash writes `spew.Fprintf("%#v", template)` (SortKeys, DisableMethods) into FNV-32a: a dump of
# every field of the Go structs, nil or not, with their Go type names. To get the same hash the dump needs the
# k8s.io/api/core/v1 (1.20) struct layouts of everything a pod template can hold; they are listed below as
# "GoField[/jsonName|+]:goType" (jsonName defaults to the Go name with a lower-case first letter, "+" marks an
# inlined embedded struct, the type defaults to string). All these types print as package "v1".

_GO_STRUCTS: dict[str, str] = {
    "ObjectMeta": (
        "Name GenerateName Namespace SelfLink UID/uid:types.UID ResourceVersion Generation:int64 "
        "CreationTimestamp:Time DeletionTimestamp:*Time DeletionGracePeriodSeconds:*int64 "
        "Labels:map[string]string Annotations:map[string]string OwnerReferences:[]OwnerReference "
        "Finalizers:[]string ClusterName ManagedFields:[]ManagedFieldsEntry"
    ),
    "OwnerReference": ("APIVersion/apiVersion Kind Name UID/uid:types.UID Controller:*bool BlockOwnerDeletion:*bool"),
    "ManagedFieldsEntry": (
        "Manager Operation:ManagedFieldsOperationType APIVersion/apiVersion Time:*Time FieldsType FieldsV1:*FieldsV1"
    ),
    "FieldsV1": "Raw/-:[]byte",
    "PodSpec": (
        "Volumes:[]Volume InitContainers:[]Container Containers:[]Container "
        "EphemeralContainers:[]EphemeralContainer RestartPolicy:RestartPolicy "
        "TerminationGracePeriodSeconds:*int64 ActiveDeadlineSeconds:*int64 "
        "DNSPolicy/dnsPolicy:DNSPolicy NodeSelector:map[string]string ServiceAccountName "
        "DeprecatedServiceAccount/serviceAccount AutomountServiceAccountToken:*bool NodeName "
        "HostNetwork:bool HostPID:bool HostIPC:bool ShareProcessNamespace:*bool "
        "SecurityContext:*PodSecurityContext ImagePullSecrets:[]LocalObjectReference Hostname "
        "Subdomain Affinity:*Affinity SchedulerName Tolerations:[]Toleration HostAliases:[]HostAlias "
        "PriorityClassName Priority:*int32 DNSConfig/dnsConfig:*PodDNSConfig "
        "ReadinessGates:[]PodReadinessGate RuntimeClassName:*string EnableServiceLinks:*bool "
        "PreemptionPolicy:*PreemptionPolicy Overhead:ResourceList "
        "TopologySpreadConstraints:[]TopologySpreadConstraint SetHostnameAsFQDN:*bool"
    ),
    "Volume": "Name VolumeSource+:VolumeSource",
    "VolumeSource": (
        "HostPath:*HostPathVolumeSource EmptyDir:*EmptyDirVolumeSource "
        "GCEPersistentDisk/gcePersistentDisk:*GCEPersistentDiskVolumeSource "
        "AWSElasticBlockStore/awsElasticBlockStore:*AWSElasticBlockStoreVolumeSource "
        "GitRepo:*GitRepoVolumeSource Secret:*SecretVolumeSource NFS/nfs:*NFSVolumeSource "
        "ISCSI/iscsi:*ISCSIVolumeSource Glusterfs:*GlusterfsVolumeSource "
        "PersistentVolumeClaim:*PersistentVolumeClaimVolumeSource RBD/rbd:*RBDVolumeSource "
        "FlexVolume:*FlexVolumeSource Cinder:*CinderVolumeSource "
        "CephFS/cephfs:*CephFSVolumeSource Flocker:*FlockerVolumeSource "
        "DownwardAPI:*DownwardAPIVolumeSource FC/fc:*FCVolumeSource "
        "AzureFile:*AzureFileVolumeSource ConfigMap:*ConfigMapVolumeSource "
        "VsphereVolume:*VsphereVirtualDiskVolumeSource Quobyte:*QuobyteVolumeSource "
        "AzureDisk:*AzureDiskVolumeSource PhotonPersistentDisk:*PhotonPersistentDiskVolumeSource "
        "Projected:*ProjectedVolumeSource PortworxVolume:*PortworxVolumeSource "
        "ScaleIO:*ScaleIOVolumeSource StorageOS/storageos:*StorageOSVolumeSource "
        "CSI/csi:*CSIVolumeSource Ephemeral:*EphemeralVolumeSource"
    ),
    "HostPathVolumeSource": "Path Type:*HostPathType",
    "EmptyDirVolumeSource": "Medium:StorageMedium SizeLimit:*resource.Quantity",
    "GCEPersistentDiskVolumeSource": "PDName/pdName FSType/fsType Partition:int32 ReadOnly:bool",
    "AWSElasticBlockStoreVolumeSource": "VolumeID FSType/fsType Partition:int32 ReadOnly:bool",
    "GitRepoVolumeSource": "Repository Revision Directory",
    "SecretVolumeSource": "SecretName Items:[]KeyToPath DefaultMode:*int32 Optional:*bool",
    "KeyToPath": "Key Path Mode:*int32",
    "NFSVolumeSource": "Server Path ReadOnly:bool",
    "ISCSIVolumeSource": (
        "TargetPortal IQN/iqn Lun:int32 ISCSIInterface/iscsiInterface FSType/fsType "
        "ReadOnly:bool Portals:[]string DiscoveryCHAPAuth/chapAuthDiscovery:bool "
        "SessionCHAPAuth/chapAuthSession:bool SecretRef:*LocalObjectReference "
        "InitiatorName:*string"
    ),
    "LocalObjectReference": "Name",
    "GlusterfsVolumeSource": "EndpointsName/endpoints Path ReadOnly:bool",
    "PersistentVolumeClaimVolumeSource": "ClaimName ReadOnly:bool",
    "RBDVolumeSource": (
        "CephMonitors/monitors:[]string RBDImage/image FSType/fsType RBDPool/pool "
        "RadosUser/user Keyring SecretRef:*LocalObjectReference ReadOnly:bool"
    ),
    "FlexVolumeSource": (
        "Driver FSType/fsType SecretRef:*LocalObjectReference ReadOnly:bool Options:map[string]string"
    ),
    "CinderVolumeSource": "VolumeID FSType/fsType ReadOnly:bool SecretRef:*LocalObjectReference",
    "CephFSVolumeSource": ("Monitors:[]string Path User SecretFile SecretRef:*LocalObjectReference ReadOnly:bool"),
    "FlockerVolumeSource": "DatasetName DatasetUUID",
    "DownwardAPIVolumeSource": "Items:[]DownwardAPIVolumeFile DefaultMode:*int32",
    "DownwardAPIVolumeFile": ("Path FieldRef:*ObjectFieldSelector ResourceFieldRef:*ResourceFieldSelector Mode:*int32"),
    "ObjectFieldSelector": "APIVersion/apiVersion FieldPath",
    "ResourceFieldSelector": "ContainerName Resource Divisor:resource.Quantity",
    "FCVolumeSource": "TargetWWNs:[]string Lun:*int32 FSType/fsType ReadOnly:bool WWIDs/wwids:[]string",
    "AzureFileVolumeSource": "SecretName ShareName ReadOnly:bool",
    "ConfigMapVolumeSource": (
        "LocalObjectReference+:LocalObjectReference Items:[]KeyToPath DefaultMode:*int32 Optional:*bool"
    ),
    "VsphereVirtualDiskVolumeSource": "VolumePath FSType/fsType StoragePolicyName StoragePolicyID",
    "QuobyteVolumeSource": "Registry Volume ReadOnly:bool User Group Tenant",
    "AzureDiskVolumeSource": (
        "DiskName DataDiskURI/diskURI CachingMode:*AzureDataDiskCachingMode "
        "FSType/fsType:*string ReadOnly:*bool Kind:*AzureDataDiskKind"
    ),
    "PhotonPersistentDiskVolumeSource": "PdID FSType/fsType",
    "ProjectedVolumeSource": "Sources:[]VolumeProjection DefaultMode:*int32",
    "VolumeProjection": (
        "Secret:*SecretProjection DownwardAPI:*DownwardAPIProjection "
        "ConfigMap:*ConfigMapProjection ServiceAccountToken:*ServiceAccountTokenProjection"
    ),
    "SecretProjection": "LocalObjectReference+:LocalObjectReference Items:[]KeyToPath Optional:*bool",
    "DownwardAPIProjection": "Items:[]DownwardAPIVolumeFile",
    "ConfigMapProjection": "LocalObjectReference+:LocalObjectReference Items:[]KeyToPath Optional:*bool",
    "ServiceAccountTokenProjection": "Audience ExpirationSeconds:*int64 Path",
    "PortworxVolumeSource": "VolumeID FSType/fsType ReadOnly:bool",
    "ScaleIOVolumeSource": (
        "Gateway System SecretRef:*LocalObjectReference SSLEnabled/sslEnabled:bool "
        "ProtectionDomain StoragePool StorageMode VolumeName FSType/fsType ReadOnly:bool"
    ),
    "StorageOSVolumeSource": ("VolumeName VolumeNamespace FSType/fsType ReadOnly:bool SecretRef:*LocalObjectReference"),
    "CSIVolumeSource": (
        "Driver ReadOnly:*bool FSType/fsType:*string VolumeAttributes:map[string]string "
        "NodePublishSecretRef:*LocalObjectReference"
    ),
    "EphemeralVolumeSource": "VolumeClaimTemplate:*PersistentVolumeClaimTemplate ReadOnly:bool",
    "PersistentVolumeClaimTemplate": "ObjectMeta/metadata:ObjectMeta Spec:PersistentVolumeClaimSpec",
    "PersistentVolumeClaimSpec": (
        "AccessModes:[]PersistentVolumeAccessMode Selector:*LabelSelector "
        "Resources:ResourceRequirements VolumeName StorageClassName:*string "
        "VolumeMode:*PersistentVolumeMode DataSource:*TypedLocalObjectReference"
    ),
    "LabelSelector": "MatchLabels:map[string]string MatchExpressions:[]LabelSelectorRequirement",
    "LabelSelectorRequirement": "Key Operator:LabelSelectorOperator Values:[]string",
    "ResourceRequirements": "Limits:ResourceList Requests:ResourceList",
    "TypedLocalObjectReference": "APIGroup/apiGroup:*string Kind Name",
    "Container": (
        "Name Image Command:[]string Args:[]string WorkingDir Ports:[]ContainerPort "
        "EnvFrom:[]EnvFromSource Env:[]EnvVar Resources:ResourceRequirements "
        "VolumeMounts:[]VolumeMount VolumeDevices:[]VolumeDevice LivenessProbe:*Probe "
        "ReadinessProbe:*Probe StartupProbe:*Probe Lifecycle:*Lifecycle TerminationMessagePath "
        "TerminationMessagePolicy:TerminationMessagePolicy ImagePullPolicy:PullPolicy "
        "SecurityContext:*SecurityContext Stdin:bool StdinOnce:bool TTY/tty:bool"
    ),
    "ContainerPort": "Name HostPort:int32 ContainerPort:int32 Protocol:Protocol HostIP",
    "EnvFromSource": "Prefix ConfigMapRef:*ConfigMapEnvSource SecretRef:*SecretEnvSource",
    "ConfigMapEnvSource": "LocalObjectReference+:LocalObjectReference Optional:*bool",
    "SecretEnvSource": "LocalObjectReference+:LocalObjectReference Optional:*bool",
    "EnvVar": "Name Value ValueFrom:*EnvVarSource",
    "EnvVarSource": (
        "FieldRef:*ObjectFieldSelector ResourceFieldRef:*ResourceFieldSelector "
        "ConfigMapKeyRef:*ConfigMapKeySelector SecretKeyRef:*SecretKeySelector"
    ),
    "ConfigMapKeySelector": "LocalObjectReference+:LocalObjectReference Key Optional:*bool",
    "SecretKeySelector": "LocalObjectReference+:LocalObjectReference Key Optional:*bool",
    "VolumeMount": "Name ReadOnly:bool MountPath SubPath MountPropagation:*MountPropagationMode SubPathExpr",
    "VolumeDevice": "Name DevicePath",
    "Probe": (
        "Handler+:Handler InitialDelaySeconds:int32 TimeoutSeconds:int32 PeriodSeconds:int32 "
        "SuccessThreshold:int32 FailureThreshold:int32"
    ),
    "Handler": "Exec:*ExecAction HTTPGet/httpGet:*HTTPGetAction TCPSocket/tcpSocket:*TCPSocketAction",
    "ExecAction": "Command:[]string",
    "HTTPGetAction": "Path Port:intstr.IntOrString Host Scheme:URIScheme HTTPHeaders/httpHeaders:[]HTTPHeader",
    "HTTPHeader": "Name Value",
    "TCPSocketAction": "Port:intstr.IntOrString Host",
    "Lifecycle": "PostStart:*Handler PreStop:*Handler",
    "SecurityContext": (
        "Capabilities:*Capabilities Privileged:*bool "
        "SELinuxOptions/seLinuxOptions:*SELinuxOptions "
        "WindowsOptions:*WindowsSecurityContextOptions RunAsUser:*int64 RunAsGroup:*int64 "
        "RunAsNonRoot:*bool ReadOnlyRootFilesystem:*bool AllowPrivilegeEscalation:*bool "
        "ProcMount:*ProcMountType SeccompProfile:*SeccompProfile"
    ),
    "Capabilities": "Add:[]Capability Drop:[]Capability",
    "SELinuxOptions": "User Role Type Level",
    "WindowsSecurityContextOptions": (
        "GMSACredentialSpecName/gmsaCredentialSpecName:*string "
        "GMSACredentialSpec/gmsaCredentialSpec:*string RunAsUserName:*string"
    ),
    "SeccompProfile": "Type:SeccompProfileType LocalhostProfile:*string",
    "EphemeralContainer": "EphemeralContainerCommon+:EphemeralContainerCommon TargetContainerName",
    "EphemeralContainerCommon": (
        "Name Image Command:[]string Args:[]string WorkingDir Ports:[]ContainerPort "
        "EnvFrom:[]EnvFromSource Env:[]EnvVar Resources:ResourceRequirements "
        "VolumeMounts:[]VolumeMount VolumeDevices:[]VolumeDevice LivenessProbe:*Probe "
        "ReadinessProbe:*Probe StartupProbe:*Probe Lifecycle:*Lifecycle "
        "TerminationMessagePath TerminationMessagePolicy:TerminationMessagePolicy "
        "ImagePullPolicy:PullPolicy SecurityContext:*SecurityContext Stdin:bool "
        "StdinOnce:bool TTY/tty:bool"
    ),
    "PodSecurityContext": (
        "SELinuxOptions/seLinuxOptions:*SELinuxOptions "
        "WindowsOptions:*WindowsSecurityContextOptions RunAsUser:*int64 RunAsGroup:*int64 "
        "RunAsNonRoot:*bool SupplementalGroups:[]int64 FSGroup/fsGroup:*int64 "
        "Sysctls:[]Sysctl FSGroupChangePolicy/fsGroupChangePolicy:*PodFSGroupChangePolicy "
        "SeccompProfile:*SeccompProfile"
    ),
    "Sysctl": "Name Value",
    "Affinity": "NodeAffinity:*NodeAffinity PodAffinity:*PodAffinity PodAntiAffinity:*PodAntiAffinity",
    "NodeAffinity": (
        "RequiredDuringSchedulingIgnoredDuringExecution:*NodeSelector "
        "PreferredDuringSchedulingIgnoredDuringExecution:[]PreferredSchedulingTerm"
    ),
    "NodeSelector": "NodeSelectorTerms:[]NodeSelectorTerm",
    "NodeSelectorTerm": "MatchExpressions:[]NodeSelectorRequirement MatchFields:[]NodeSelectorRequirement",
    "NodeSelectorRequirement": "Key Operator:NodeSelectorOperator Values:[]string",
    "PreferredSchedulingTerm": "Weight:int32 Preference:NodeSelectorTerm",
    "PodAffinity": (
        "RequiredDuringSchedulingIgnoredDuringExecution:[]PodAffinityTerm "
        "PreferredDuringSchedulingIgnoredDuringExecution:[]WeightedPodAffinityTerm"
    ),
    "PodAffinityTerm": "LabelSelector:*LabelSelector Namespaces:[]string TopologyKey",
    "WeightedPodAffinityTerm": "Weight:int32 PodAffinityTerm:PodAffinityTerm",
    "PodAntiAffinity": (
        "RequiredDuringSchedulingIgnoredDuringExecution:[]PodAffinityTerm "
        "PreferredDuringSchedulingIgnoredDuringExecution:[]WeightedPodAffinityTerm"
    ),
    "Toleration": "Key Operator:TolerationOperator Value Effect:TaintEffect TolerationSeconds:*int64",
    "HostAlias": "IP/ip Hostnames:[]string",
    "PodDNSConfig": "Nameservers:[]string Searches:[]string Options:[]PodDNSConfigOption",
    "PodDNSConfigOption": "Name Value:*string",
    "PodReadinessGate": "ConditionType:PodConditionType",
    "TopologySpreadConstraint": (
        "MaxSkew:int32 TopologyKey WhenUnsatisfiable:UnsatisfiableConstraintAction LabelSelector:*LabelSelector"
    ),
}
_GO_STRING_TYPES = frozenset(
    {
        "AzureDataDiskCachingMode",
        "AzureDataDiskKind",
        "Capability",
        "DNSPolicy",
        "HostPathType",
        "LabelSelectorOperator",
        "ManagedFieldsOperationType",
        "MountPropagationMode",
        "NodeSelectorOperator",
        "PersistentVolumeAccessMode",
        "PersistentVolumeMode",
        "PodConditionType",
        "PodFSGroupChangePolicy",
        "PreemptionPolicy",
        "ProcMountType",
        "Protocol",
        "PullPolicy",
        "ResourceName",
        "RestartPolicy",
        "SeccompProfileType",
        "StorageMedium",
        "TaintEffect",
        "TerminationMessagePolicy",
        "TolerationOperator",
        "URIScheme",
        "UnsatisfiableConstraintAction",
    }
)
_GO_NAMED_TYPES = {"ResourceList": "map[ResourceName]resource.Quantity"}
_GO_BUILTINS = frozenset({"string", "bool", "int32", "int64", "byte"})


@functools.cache
def _go_fields(struct: str) -> tuple[tuple[str, str, str, bool], ...]:
    """(Go name, JSON name, Go type, inlined) of a struct's fields, in declaration order."""
    fields = []
    for spec in _GO_STRUCTS[struct].split():
        head, _, go_type = spec.partition(":")
        inline = head.endswith("+")
        head = head.rstrip("+")
        name, _, json_name = head.partition("/")
        fields.append((name, json_name or name[0].lower() + name[1:], go_type or "string", inline))
    return tuple(fields)


def _go_type_name(go_type: str) -> str:
    """The type as Go's reflect prints it (`[]v1.Container`, `*int64`, `map[string]string`)."""
    if go_type.startswith("*"):
        return "*" + _go_type_name(go_type[1:])
    if go_type.startswith("[]"):
        return "[]" + _go_type_name(go_type[2:])
    if go_type.startswith("map["):
        key, _, value = go_type[4:].partition("]")
        return f"map[{_go_type_name(key)}]{_go_type_name(value)}"
    if go_type in _GO_BUILTINS or "." in go_type:
        return go_type
    return "v1." + go_type


def _spew(value: Any, go_type: str, show_type: bool = True) -> str:
    """go-spew's `%#v` of `value` (decoded JSON) as the Go type `go_type`."""
    if go_type.startswith("*"):
        inner = go_type[1:]
        if value is None:
            return f"(*{_go_type_name(inner)})<nil>" if show_type else "<nil>"
        head = f"(*{_go_type_name(inner)})" if show_type else "<*>"
        return head + _spew(value, inner, show_type=False)
    head = f"({_go_type_name(go_type)})" if show_type else ""
    underlying = _GO_NAMED_TYPES.get(go_type, go_type)
    if go_type in _GO_STRING_TYPES or underlying in ("string", "types.UID"):
        return head + str(value or "")
    if underlying == "bool":
        return head + ("true" if value else "false")
    if underlying in ("int32", "int64", "byte"):
        return head + str(value if isinstance(value, int) else 0)
    # Shapes the emulator's validation lets through but Go could not decode print as nil, never fail the controller.
    if underlying.startswith("[]"):
        if not isinstance(value, list):
            return head + "<nil>"
        return head + "[" + " ".join(_spew(item, underlying[2:], False) for item in value) + "]"
    if underlying.startswith("map["):
        if not isinstance(value, dict):
            return head + "<nil>"
        _, _, item_type = underlying[4:].partition("]")
        items = " ".join(f"{key}:{_spew(value[key], item_type, False)}" for key in sorted(value))
        return head + "map[" + items + "]"
    if underlying == "Time":
        # Pod templates never carry times; the zero time.Time.
        return head + "{Time:(time.Time){wall:(uint64)0 ext:(int64)0 loc:(*time.Location)<nil>}}"
    if underlying == "intstr.IntOrString":
        if isinstance(value, str):
            return head + f"{{Type:(intstr.Type)1 IntVal:(int32)0 StrVal:(string){value}}}"
        return head + f"{{Type:(intstr.Type)0 IntVal:(int32){int(value or 0)} StrVal:(string)}}"
    if underlying == "resource.Quantity":
        return head + _spew_quantity(value)
    obj = value if isinstance(value, dict) else {}
    parts = []
    for name, json_name, field_type, inline in _go_fields(underlying):
        parts.append(f"{name}:" + _spew(obj if inline else obj.get(json_name), field_type))
    return head + "{" + " ".join(parts) + "}"


# --- resource.Quantity ------------------------------------------------------------------------------------------

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {exponent // 10: suffix for suffix, exponent in _BINARY_SUFFIXES.items()}
_QUANTITY = re.compile(r"^([+-]?)0*([0-9]*)(?:\.([0-9]*))?(.*)$")
_EXPONENT_SUFFIX = re.compile(r"^[eE][+-]?[0-9]+$")


def _parse_quantity(text: str) -> tuple[Decimal, str, str, str] | None:
    """(value, format, integer digits, fraction digits) like resource.ParseQuantity, or None when invalid."""
    match = _QUANTITY.match(text.strip())
    if not match or not text.strip():
        return None
    sign, num, denom, suffix = match.groups()
    num, denom = num or "0", denom or ""
    if suffix in _DECIMAL_SUFFIXES:
        scale, fmt = Decimal(10) ** _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    elif suffix in _BINARY_SUFFIXES:
        scale, fmt = Decimal(2) ** _BINARY_SUFFIXES[suffix], "BinarySI"
    elif _EXPONENT_SUFFIX.match(suffix):
        scale, fmt = Decimal(10) ** int(suffix[1:]), "DecimalExponent"
    else:
        return None
    try:
        value = Decimal(f"{sign}{num}.{denom or '0'}") * scale
    except InvalidOperation:
        return None
    return value, fmt, num, denom


def canonical_quantity(text: Any, *, milli: bool = False) -> Any:
    """What the apiserver prints for a quantity (`0.5` -> `500m`, `2048Ki` -> `2Mi`); values of a ResourceList are
    first rounded up to milli units. Anything that does not parse is returned unchanged."""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        return text
    parsed = _parse_quantity(str(text))
    if parsed is None:
        return text
    value, fmt, _, _ = parsed
    step = Decimal("0.001") if milli else Decimal("0.000000001")
    if value != value.quantize(step, rounding=ROUND_UP):
        value = value.quantize(step, rounding=ROUND_UP)
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < value < 1024 or value != value.to_integral_value()):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        amount, exponent = int(value), 0
        while amount % 1024 == 0 and exponent < 6:
            amount //= 1024
            exponent += 1
        return f"{amount}{_BINARY_BY_EXPONENT.get(exponent, '')}"
    sign, digits, exponent = value.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)))
    assert isinstance(exponent, int)
    shift = exponent % 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    number = f"{'-' if sign else ''}{mantissa}"
    if fmt == "DecimalExponent" or exponent not in _DECIMAL_BY_EXPONENT:
        return number + (f"e{exponent}" if exponent else "")
    return number + _DECIMAL_BY_EXPONENT[exponent]


def _spew_quantity(value: Any) -> str:
    """A Quantity as the controller holds it: ParseQuantity of the canonical string the apiserver sent."""
    amount, scale, cached, fmt, dec = _go_parse_quantity(str(canonical_quantity(value)) if value is not None else "0")
    if dec is None:
        dec_text = "(*inf.Dec)<nil>"
    else:
        unscaled, dec_scale = dec
        words, rest = [], abs(unscaled)
        while rest:
            words.append(str(rest & 0xFFFFFFFFFFFFFFFF))
            rest >>= 64
        dec_text = (
            f"(*inf.Dec){{unscaled:(big.Int){{neg:(bool){'true' if unscaled < 0 else 'false'} "
            f"abs:(big.nat)[{' '.join(words)}]}} scale:(inf.Scale){dec_scale}}}"
        )
    return (
        f"{{i:(resource.int64Amount){{value:(int64){amount} scale:(resource.Scale){scale}}} "
        f"d:(resource.infDecAmount){{Dec:{dec_text}}} s:(string){cached} Format:(resource.Format){fmt}}}"
    )


def _go_parse_quantity(text: str) -> tuple[int, int, str, str, tuple[int, int] | None]:
    """resource.ParseQuantity's internal form: (int64 value, scale, cached string, format, inf.Dec or None)."""
    if text == "0":
        return 0, 0, "0", "DecimalSI", None
    match = _QUANTITY.match(text)
    if match is None:
        return 0, 0, "", "DecimalSI", None
    sign, num, denom, suffix = match.groups()
    num, denom = num or "0", denom or ""
    if suffix in _BINARY_SUFFIXES:
        base, exponent, fmt = 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    elif suffix in _DECIMAL_SUFFIXES:
        base, exponent, fmt = 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    elif _EXPONENT_SUFFIX.match(suffix):
        base, exponent, fmt = 10, int(suffix[1:]), "DecimalExponent"
    else:
        return 0, 0, "", "DecimalSI", None
    negative = sign == "-"
    mantissa, scale = 1, 0
    if base == 10:
        scale, precision = exponent, 18 - (len(num) + len(denom))
    elif not denom:
        mantissa, precision = 1 << exponent, 15 - len(num) - exponent * 3 // 10 - 1
    else:
        precision = -1
    if precision >= 0:
        scale -= len(denom)
        shifted = num + denom
        result = int(shifted) * mantissa
        if scale >= -9 and result < 2**63:
            result = -result if negative else result
            if base == 2:
                cached = text if exponent % 10 == 0 and int(shifted) & 0x07 else ""
            else:
                cached = text if scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0" else ""
            return result, scale, cached, fmt, None
    unscaled, dec_scale = int(num + denom) * (-1 if negative else 1), len(denom)
    if base == 10:
        dec_scale -= exponent
    else:
        unscaled *= 2**exponent
    if dec_scale < 9:
        unscaled, dec_scale = unscaled * 10 ** (9 - dec_scale), 9
    return 0, 0, "", fmt, (unscaled, dec_scale)


def _fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: no vowels, no 0/1/3, so generated names spell no words."""
    return "".join(_SAFE_ALPHABET[ord(char) % len(_SAFE_ALPHABET)] for char in text)


def pod_template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """controller.ComputeHash of a (defaulted) pod template, as the deployment controller names ReplicaSets."""
    dump = (
        "(v1.PodTemplateSpec){ObjectMeta:"
        + _spew(template.get("metadata") or {}, "ObjectMeta")
        + " Spec:"
        + _spew(template.get("spec") or {}, "PodSpec")
        + "}"
    )
    data = dump.encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\x00" * 4
    return safe_encode(str(_fnv32a(data)))


# --- selectors, int-or-percent and Go-printed values --------------------------------------------------------------

_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used "
    "for validation is '[0-9]+%')"
)


class InvalidSelector(ValueError):
    """A metav1.LabelSelector that labels.NewRequirement rejects."""


def label_selector(selector: Any) -> LabelSelector | None:
    """metav1.LabelSelectorAsSelector: None for a missing selector (it selects nothing), an empty LabelSelector
    for `{}` (it selects everything); raises InvalidSelector when a requirement is malformed."""
    if selector is None:
        return None
    if not isinstance(selector, dict):
        raise InvalidSelector("selector must be an object")
    requirements: list[Requirement] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        if label_key(key) or label_value(str(value)):
            raise InvalidSelector(f"invalid label {key}={value}")
        requirements.append(Requirement(key, "=", (str(value),)))
    for expression in selector.get("matchExpressions") or []:
        expression = expression if isinstance(expression, dict) else {}
        key, operator = expression.get("key") or "", _SELECTOR_OPERATORS.get(expression.get("operator") or "")
        values = [str(v) for v in expression.get("values") or []]
        if operator is None or label_key(key):
            raise InvalidSelector(f"invalid requirement on {key!r}")
        if (operator in ("in", "notin")) != bool(values) or any(label_value(v) for v in values):
            raise InvalidSelector(f"invalid values for {key!r}")
        requirements.append(Requirement(key, operator, tuple(sorted(set(values)))))
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


def selector_string(selector: LabelSelector | None) -> str:
    """labels.Selector.String(): what the scale subresource reports in status.selector."""
    if selector is None:
        return ""
    parts = []
    for requirement in selector.requirements:
        values = ",".join(requirement.values)
        parts.append(
            {
                "=": f"{requirement.key}={values}",
                "in": f"{requirement.key} in ({values})",
                "notin": f"{requirement.key} notin ({values})",
                "exists": requirement.key,
                "!": f"!{requirement.key}",
            }[requirement.operator]
        )
    return ",".join(parts)


def _selects(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    return selector is not None and selector.matches(labels)


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent; a malformed value counts as 0 (validation rejects it anyway)."""
    if isinstance(value, str):
        try:
            number = int(value.replace("%", ""))
        except ValueError:
            return 0
        scaled = number * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value or 0)


def _go_quote(text: Any) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def _go_string_map(values: Any) -> str:
    if not values:
        return "map[string]string(nil)"
    items = ", ".join(f"{_go_quote(k)}:{_go_quote(v)}" for k, v in sorted(values.items()))
    return "map[string]string{" + items + "}"


def _go_strings(values: Any) -> str:
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _go_label_selector(selector: Mapping[str, Any]) -> GoLiteral:
    expressions = selector.get("matchExpressions") or []
    if expressions:
        items = ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{_go_quote(e.get('key') or '')}, Operator:"
            f"{_go_quote(e.get('operator') or '')}, Values:{_go_strings(e.get('values'))}}}"
            for e in expressions
        )
        expression_text = "[]v1.LabelSelectorRequirement{" + items + "}"
    else:
        expression_text = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(
        f"v1.LabelSelector{{MatchLabels:{_go_string_map(selector.get('matchLabels'))}, "
        f"MatchExpressions:{expression_text}}}"
    )


def _go_int_or_string(value: Any) -> GoLiteral:
    if isinstance(value, str):
        return GoLiteral(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_go_quote(value)}}}")
    return GoLiteral(f'intstr.IntOrString{{Type:0, IntVal:{int(value or 0)}, StrVal:""}}')


# --- validation (pkg/apis/apps/validation) -------------------------------------------------------------------------


def _nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def _validate_selector(selector: Mapping[str, Any], path: str) -> list[FieldError]:
    """unversioned ValidateLabelSelector."""
    errors = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        item = f"{path}.matchExpressions[{index}]"
        expression = expression if isinstance(expression, dict) else {}
        operator, values = expression.get("operator") or "", expression.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(required(f"{item}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    forbidden(f"{item}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            errors.append(invalid(f"{item}.operator", operator, "not a valid selector operator"))
        key = expression.get("key") or ""
        errors.extend(invalid(f"{item}.key", key, msg) for msg in label_key(key))
    return errors


def _validate_template(template: Mapping[str, Any], selector: LabelSelector | None, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpecForReplicaSet."""
    errors: list[FieldError] = []
    metadata = template.get("metadata") or {}
    labels = metadata.get("labels")
    if (selector is None or not selector.empty) and not _selects(selector, labels):
        errors.append(
            invalid(
                f"{path}.metadata.labels",
                GoLiteral(_go_string_map(labels)),
                "`selector` does not match template `labels`",
            )
        )
    errors.extend(validate_labels(labels, f"{path}.labels"))
    errors.extend(validate_annotations(metadata.get("annotations"), f"{path}.annotations"))
    spec = template.get("spec") or {}
    errors.extend(validate_pod_spec(spec, f"{path}.spec"))
    if spec.get("ephemeralContainers"):
        errors.append(forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    if spec.get("restartPolicy") != "Always":
        errors.append(not_supported(f"{path}.spec.restartPolicy", spec.get("restartPolicy") or "", ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        errors.append(
            forbidden(f"{path}.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported")
        )
    return errors


def _validate_selector_and_template(spec: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    raw = spec.get("selector")
    if raw is None:
        errors.append(required("spec.selector"))
    elif isinstance(raw, dict):
        errors.extend(_validate_selector(raw, "spec.selector"))
        if not raw.get("matchLabels") and not raw.get("matchExpressions"):
            errors.append(invalid("spec.selector", _go_label_selector(raw), "empty selector is invalid for deployment"))
    try:
        selector = label_selector(raw)
    except InvalidSelector:
        errors.append(invalid("spec.selector", _go_label_selector(raw or {}), "invalid label selector"))
    else:
        errors.extend(_validate_template(spec.get("template") or {}, selector, "spec.template"))
    return errors


def _validate_rolling_update(rolling: Mapping[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    values = {}
    for name in ("maxUnavailable", "maxSurge"):
        value = rolling.get(name)
        if isinstance(value, str):
            if not _PERCENT.match(value):
                errors.append(invalid(f"{path}.{name}", _go_int_or_string(value), _PERCENT_MESSAGE))
                values[name] = 0
            else:
                values[name] = int(value[:-1])
        else:
            errors.extend(_nonnegative(value, f"{path}.{name}"))
            values[name] = int(value or 0)
    if values["maxUnavailable"] == 0 and values["maxSurge"] == 0:
        errors.append(
            invalid(
                f"{path}.maxUnavailable",
                _go_int_or_string(rolling.get("maxUnavailable")),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    unavailable = rolling.get("maxUnavailable")
    if isinstance(unavailable, str) and _PERCENT.match(unavailable) and int(unavailable[:-1]) > 100:
        errors.append(
            invalid(f"{path}.maxUnavailable", _go_int_or_string(unavailable), "must not be greater than 100%")
        )
    return errors


def _validate_strategy(strategy: Mapping[str, Any]) -> list[FieldError]:
    kind = strategy.get("type") or ""
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")]
        return _validate_rolling_update(rolling, "spec.strategy.rollingUpdate")
    rolling_text = "(*apps.RollingUpdateDeployment)(nil)" if rolling is None else "&apps.RollingUpdateDeployment{}"
    value = GoLiteral(f"apps.DeploymentStrategy{{Type:{_go_quote(kind)}, RollingUpdate:{rolling_text}}}")
    return [not_supported("spec.strategy", value, ["Recreate", "RollingUpdate"])]


def validate_deployment_spec(spec: Mapping[str, Any]) -> list[FieldError]:
    """ValidateDeploymentSpec, in its order of checks."""
    errors = _nonnegative(spec.get("replicas"), "spec.replicas")
    errors.extend(_validate_selector_and_template(spec))
    errors.extend(_validate_strategy(spec.get("strategy") or {}))
    min_ready = spec.get("minReadySeconds") or 0
    errors.extend(_nonnegative(min_ready, "spec.minReadySeconds"))
    errors.extend(_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int):
        errors.extend(_nonnegative(deadline, "spec.progressDeadlineSeconds"))
        if deadline <= min_ready:
            errors.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errors


def validate_replica_set_spec(spec: Mapping[str, Any]) -> list[FieldError]:
    """ValidateReplicaSetSpec."""
    errors = _nonnegative(spec.get("replicas"), "spec.replicas")
    errors.extend(_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errors.extend(_validate_selector_and_template(spec))
    return errors


def _selector_immutable(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    new_selector = (new.get("spec") or {}).get("selector")
    if _normal_selector(new_selector) != _normal_selector((old.get("spec") or {}).get("selector")):
        value = _go_label_selector(new_selector) if isinstance(new_selector, dict) else None
        return [invalid("spec.selector", value, "field is immutable")]
    return []


def _normal_selector(selector: Any) -> Any:
    if not isinstance(selector, dict):
        return selector
    return {k: v for k, v in selector.items() if v}


def _validate_status(status: Mapping[str, Any], counters: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in counters:
        errors.extend(_nonnegative(status.get(name), f"status.{name}"))
    replicas = status.get("replicas") or 0
    for name in counters:
        if name in ("fullyLabeledReplicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            value = status.get(name) or 0
            if value > replicas:
                errors.append(invalid(f"status.{name}", value, "cannot be greater than status.replicas"))
    available = status.get("availableReplicas") or 0
    if available > (status.get("readyReplicas") or 0):
        errors.append(invalid("status.availableReplicas", available, "cannot be greater than readyReplicas"))
    return errors


# --- strategies ------------------------------------------------------------------------------------------------


def default_pod_template(template: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and friends on a template: unlike a Pod, no enableServiceLinks and no requests copied
    from limits (those are SetDefaults_Pod's); quantities are canonical and rounded up to milli units."""
    metadata = template.get("metadata")
    if not isinstance(metadata, dict):
        metadata = template["metadata"] = {}
    metadata.setdefault("creationTimestamp", None)
    spec = template.get("spec")
    if not isinstance(spec, dict):
        spec = template["spec"] = {}
    containers = [c for field in ("initContainers", "containers") for c in spec.get(field) or [] if isinstance(c, dict)]
    requests_before = [clone((c.get("resources") or {}).get("requests")) for c in containers]
    had_service_links = "enableServiceLinks" in spec
    default_pod_spec(spec)
    if not had_service_links:
        spec.pop("enableServiceLinks", None)
    for container, requests in zip(containers, requests_before, strict=True):
        resources = container.setdefault("resources", {})
        if requests is None:
            resources.pop("requests", None)
        else:
            resources["requests"] = requests
        for name in ("limits", "requests"):
            if isinstance(resources.get(name), dict):
                resources[name] = {k: canonical_quantity(v, milli=True) for k, v in resources[name].items()}
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict) and len(volume) == 1 and "name" in volume:
            volume["emptyDir"] = {}
    # v1 <-> internal conversion: serviceAccount is the deprecated alias of serviceAccountName (which wins).
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
    for field in ("serviceAccountName", "serviceAccount"):
        if account:
            spec[field] = account
        else:
            spec.pop(field, None)
    _drop_false(spec, _FALSE_OMITTED_POD_FIELDS)
    for container in containers:
        _drop_false(container, _FALSE_OMITTED_CONTAINER_FIELDS)
        for mount in container.get("volumeMounts") or []:
            if isinstance(mount, dict):
                _drop_false(mount, ("readOnly",))


# Plain (not pointer) bools with omitempty: Go never prints them false.
_FALSE_OMITTED_POD_FIELDS = ("hostNetwork", "hostPID", "hostIPC")
_FALSE_OMITTED_CONTAINER_FIELDS = ("stdin", "stdinOnce", "tty")


def _drop_false(obj: dict[str, Any], fields: tuple[str, ...]) -> None:
    for field in fields:
        if obj.get(field) is False:
            del obj[field]


def _collapse_atomic_selectors(obj: dict[str, Any]) -> None:
    """metav1.LabelSelector is an atomic struct: managedFields own it whole (`f:selector: {}`)."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if key == "f:labelSelector":
                    node[key] = {}
                else:
                    walk(child)

    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1")
        if not isinstance(fields, dict):
            continue
        spec = fields.get("f:spec")
        if isinstance(spec, dict) and "f:selector" in spec:
            spec["f:selector"] = {}
        walk(fields)


class _WorkloadStrategy(Strategy):
    """What Deployments and ReplicaSets share: a spec/status split and an atomic selector."""

    status_counters: tuple[str, ...] = ()

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None, ctx: WriteContext) -> None:
        _collapse_atomic_selectors(obj)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["status"] = old.get("status", {})

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        return errors + _validate_status(new.get("status") or {}, self.status_counters)

    def _default_common(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return None
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        template = spec.setdefault("template", {})
        if isinstance(template, dict):
            default_pod_template(template)
        status = obj.get("status")
        if isinstance(status, dict):
            for condition in status.get("conditions") or []:
                if isinstance(condition, dict):
                    condition.setdefault("lastTransitionTime", None)
        return spec


class DeploymentStrategy(_WorkloadStrategy):
    status_counters = (
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "collisionCount",
    )

    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """SetDefaults_Deployment."""
        spec = self._default_common(obj)
        if spec is None:
            return
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            if not strategy.get("type"):
                strategy["type"] = "RollingUpdate"
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", "25%")
                    rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        status = obj.get("status")
        if isinstance(status, dict):
            for condition in status.get("conditions") or []:
                if isinstance(condition, dict):
                    condition.setdefault("lastUpdateTime", None)

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {}

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
        return errors + validate_deployment_spec(obj.get("spec") or {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        errors.extend(validate_deployment_spec(new.get("spec") or {}))
        return errors + _selector_immutable(new, old)

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        """deploymentStatusStrategy: the spec and labels stay, annotations may change (the revision)."""
        super().prepare_for_status_update(new, old, ctx)
        labels = (old.get("metadata") or {}).get("labels")
        if labels is None:
            new["metadata"].pop("labels", None)
        else:
            new["metadata"]["labels"] = labels

    def spec_of(self, obj: Mapping[str, Any]) -> Any:
        """A Deployment's generation also moves when its annotations change."""
        return [obj.get("spec"), (obj.get("metadata") or {}).get("annotations") or {}]

    def zero_object(self) -> dict[str, Any]:
        return {
            "metadata": {"creationTimestamp": None},
            "spec": {
                "selector": None,
                "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}},
                "strategy": {},
            },
            "status": {},
        }


class ReplicaSetStrategy(_WorkloadStrategy):
    status_counters = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")

    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """SetDefaults_ReplicaSet."""
        self._default_common(obj)

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {"replicas": 0}

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
        return errors + validate_replica_set_spec(obj.get("spec") or {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        """rsStrategy.ValidateUpdate validates the spec twice (create and update checks), as the real one does."""
        errors = self.validate(new, ctx)
        errors.extend(validate_object_meta_update(new["metadata"], old["metadata"]))
        errors.extend(validate_replica_set_spec(new.get("spec") or {}))
        return errors + _selector_immutable(new, old)

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        fields = super().field_set(obj)
        fields["status.replicas"] = str((obj.get("status") or {}).get("replicas") or 0)
        return fields

    def zero_object(self) -> dict[str, Any]:
        return {
            "metadata": {"creationTimestamp": None},
            "spec": {
                "selector": None,
                "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}},
            },
            "status": {"replicas": 0},
        }


_SCALE = ("scale", "Scale", ("get", "patch", "update"))
_UNCONDITIONAL_RETRIES = 5
DEPLOYMENT = Kind(
    group="apps",
    version="v1",
    resource="deployments",
    kind="Deployment",
    namespaced=True,
    strategy=DeploymentStrategy(),
    short_names=("deploy",),
    categories=("all",),
    status_subresource=True,
    tracks_generation=True,
    storage_version_hash="8aSe+NMegvE=",
    subresources=(_SCALE, ("status", "Deployment", ("get", "patch", "update"))),
)
REPLICA_SET = Kind(
    group="apps",
    version="v1",
    resource="replicasets",
    kind="ReplicaSet",
    namespaced=True,
    strategy=ReplicaSetStrategy(),
    short_names=("rs",),
    categories=("all",),
    status_subresource=True,
    tracks_generation=True,
    field_labels=frozenset({"metadata.name", "metadata.namespace", "status.replicas"}),
    storage_version_hash="P1RzHs8/mWQ=",
    subresources=(_SCALE, ("status", "ReplicaSet", ("get", "patch", "update"))),
)
KINDS: tuple[Kind, ...] = (DEPLOYMENT, REPLICA_SET)


# --- the scale subresource -------------------------------------------------------------------------------------


def scale_of(kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    metadata = obj["metadata"]
    replicas = (obj.get("spec") or {}).get("replicas") or 0
    try:
        selector = selector_string(label_selector((obj.get("spec") or {}).get("selector")))
    except InvalidSelector:
        selector = ""
    status: dict[str, Any] = {"replicas": (obj.get("status") or {}).get("replicas") or 0}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": replicas} if replicas else {},
        "status": status,
    }


def scale_subresource(
    cluster: KubeCluster,
    kind: Kind,
    namespace: str,
    name: str,
    method: str,
    body: bytes,
    content_type: str,
    ctx: WriteContext,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """GET, PUT and PATCH of `{deployments,replicasets}/{name}/scale` (ScaleREST): the new Scale's spec.replicas
    (and its resourceVersion, as a precondition) move into the object, which is then updated as usual.

    The HTTP layer hands the request over as is: `scale_subresource(cluster, kind, namespace, name, method, body,
    content_type, ctx)` answers the Scale or raises StatusError."""
    resource = GroupResource(kind.group, f"{kind.resource}/scale")
    media = content_type.split(";")[0].strip().lower()
    if method == "PUT":
        try:
            requested = json.loads(body or b"{}")
        except ValueError as error:
            raise bad_request(f"the object provided is unrecognized (must be of type Scale): {error}") from None
        if not isinstance(requested, dict):
            raise bad_request("the object provided is unrecognized (must be of type Scale)")
        body_name = (requested.get("metadata") or {}).get("name")
        if body_name is not None and body_name != name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
    elif method == "PATCH":
        if media not in PATCH_TYPES:
            raise unsupported_media_type()
        try:
            patch = json.loads(body or b"null")
        except ValueError:
            raise invalid_patch_body() from None
    elif method != "GET":
        raise method_not_allowed()
    for _ in range(_UNCONDITIONAL_RETRIES):
        stored = cluster.store.get(kind.key, namespace, name)
        if stored is None:
            raise not_found(resource, name)
        old_scale = scale_of(kind, stored)
        if method == "GET":
            return old_scale
        new_scale = requested if method == "PUT" else apply_patch(old_scale, patch, media)
        metadata = new_scale.get("metadata") if isinstance(new_scale.get("metadata"), dict) else {}
        replicas = (new_scale.get("spec") or {}).get("replicas") or 0
        errors = validate_object_meta(dict(metadata), namespaced=True, name_fn=name_is_dns_subdomain)
        if isinstance(replicas, int) and replicas < 0:
            errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
        if errors:
            raise invalid_object("autoscaling", "Scale", name, errors)
        uid = metadata.get("uid")
        if uid and uid != stored["metadata"].get("uid"):
            raise StatusError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{name}": Precondition failed: UID in precondition: '
                f"{uid}, UID in object meta: {stored['metadata'].get('uid')}",
                {"name": name, "group": kind.group, "kind": f"{kind.resource}/scale"},
            )
        wanted_rv = metadata.get("resourceVersion")
        # A patch that leaves the resourceVersion alone applies to whatever is current, like the apiserver's.
        conditional = bool(wanted_rv) and (method == "PUT" or wanted_rv != old_scale["metadata"].get("resourceVersion"))
        if conditional and wanted_rv != stored["metadata"].get("resourceVersion"):
            raise stale_object(kind.group_resource, name)
        updated = clone(stored)
        updated["spec"]["replicas"] = replicas
        try:
            return scale_of(kind, cluster.objects.update(kind, namespace, name, updated, ctx, dry_run=dry_run))
        except StatusError as error:
            if error.code != 409 or conditional:
                raise
    raise stale_object(kind.group_resource, name)


# --- helpers shared by the controllers ---------------------------------------------------------------------------


def _replicas(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas") or 0)


def _status_count(obj: Mapping[str, Any], key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


def controller_ref(owner: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """metav1.NewControllerRef."""
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("controller")), None)


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _pod_condition(pod: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    condition = _pod_condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def _pod_active(pod: Mapping[str, Any]) -> bool:
    """controller.IsPodActive."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _pods_to_delete_order(pods: list[Obj], ranks: dict[str, int]) -> list[Obj]:
    """controller.ActivePodsWithRanks: the pods to remove first (unscheduled, pending, not ready, doubled up,
    ready for the shortest time, most restarted, newest) come first."""

    def ready_time(pod: Obj) -> str:
        condition = _pod_condition(pod, "Ready")
        return (condition or {}).get("lastTransitionTime") or ""

    def restarts(pod: Obj) -> int:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return max((int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)), default=0)

    def after_or_zero(first: str, second: str) -> bool:
        if not first or not second:
            return not first
        return first > second

    def less(a: Obj, b: Obj) -> bool:
        node_a, node_b = a["spec"].get("nodeName") or "", b["spec"].get("nodeName") or ""
        if node_a != node_b and (not node_a or not node_b):
            return not node_a
        phase_a = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase") or "", 0)
        phase_b = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase") or "", 0)
        if phase_a != phase_b:
            return phase_a < phase_b
        if is_pod_ready(a) != is_pod_ready(b):
            return not is_pod_ready(a)
        rank_a, rank_b = ranks.get(a["metadata"]["uid"], 0), ranks.get(b["metadata"]["uid"], 0)
        if rank_a != rank_b:
            return rank_a > rank_b
        if is_pod_ready(a) and is_pod_ready(b) and ready_time(a) != ready_time(b):
            return after_or_zero(ready_time(a), ready_time(b))
        if restarts(a) != restarts(b):
            return restarts(a) > restarts(b)
        created_a, created_b = (
            a["metadata"].get("creationTimestamp") or "",
            b["metadata"].get("creationTimestamp") or "",
        )
        if created_a != created_b:
            return after_or_zero(created_a, created_b)
        return False

    def compare(a: Obj, b: Obj) -> int:
        return -1 if less(a, b) else (1 if less(b, a) else 0)

    return sorted(sorted(pods, key=lambda p: p["metadata"]["name"]), key=functools.cmp_to_key(compare))


def _by_creation(replica_sets: list[Obj]) -> list[Obj]:
    """controller.ReplicaSetsByCreationTimestamp."""
    return sorted(replica_sets, key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]))


def _active(replica_sets: Sequence[Obj | None]) -> list[Obj]:
    return [rs for rs in replica_sets if rs is not None and _replicas(rs) > 0]


def _sum(replica_sets: Sequence[Obj | None], counter: Callable[[Obj], int]) -> int:
    return sum(counter(rs) for rs in replica_sets if rs is not None)


def _revision(obj: Mapping[str, Any]) -> int:
    value = (obj["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _equal_ignore_hash(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """deploymentutil.EqualIgnoreHash: templates compared without the pod-template-hash label."""

    def strip(template: Mapping[str, Any]) -> Any:
        copy = clone(dict(template))
        metadata = copy.setdefault("metadata", {})
        labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
        metadata.pop("labels", None)
        if labels:
            metadata["labels"] = labels
        return json.dumps(copy, sort_keys=True)

    return strip(first) == strip(second)


def _new_condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    now = now_rfc3339()
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _get_condition(status: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def _set_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    """deploymentutil.SetDeploymentCondition: same status and reason keep the old one; the same status keeps its
    transition time; the condition goes to the end of the list."""
    current = _get_condition(status, condition["type"])
    if (
        current is not None
        and current.get("status") == condition["status"]
        and current.get("reason") == condition["reason"]
    ):
        return
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"].append(condition)


def _remove_condition(status: dict[str, Any], kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind]


def _omit_empty(status: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Go's omitempty on the status counters and conditions."""
    return {k: v for k, v in status.items() if k in keep or (v not in (0, None, [], {}))}


def _max_surge(d: Mapping[str, Any]) -> int:
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type") != "RollingUpdate":
        return 0
    return _fenceposts(d)[0]


def _max_unavailable(d: Mapping[str, Any]) -> int:
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type") != "RollingUpdate" or _replicas(d) == 0:
        return 0
    return min(_fenceposts(d)[1], _replicas(d))


def _fenceposts(d: Mapping[str, Any]) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: surge rounds up, unavailable down, and both zero means one unavailable."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", 0), _replicas(d), True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 0), _replicas(d), False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _has_progress_deadline(d: Mapping[str, Any]) -> bool:
    deadline = d["spec"].get("progressDeadlineSeconds")
    return deadline is not None and deadline != MAX_INT32


def _set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    updated = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            updated = True
    return updated


def _replicas_annotations_need_update(rs: Mapping[str, Any], desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or annotations.get(
        MAX_REPLICAS_ANNOTATION
    ) != str(maximum)


def _int_annotation(rs: Mapping[str, Any], key: str) -> int | None:
    value = (rs["metadata"].get("annotations") or {}).get(key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _set_new_rs_annotations(d: Mapping[str, Any], rs: Obj, new_revision: str, exists: bool) -> bool:
    """deploymentutil.SetNewReplicaSetAnnotations."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key in _SKIPPED_ANNOTATIONS or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    old_revision = annotations.get(REVISION_ANNOTATION)
    try:
        old_number = int(old_revision) if old_revision else 0
    except ValueError:
        return False
    new_number = int(new_revision)
    if old_number < new_number:
        annotations[REVISION_ANNOTATION] = new_revision
        changed = True
    if old_revision is not None and old_number < new_number:
        history = annotations.get(REVISION_HISTORY_ANNOTATION) or ""
        if not history:
            annotations[REVISION_HISTORY_ANNOTATION] = old_revision
        else:
            revisions = history.split(",")
            total, start = len(history) + len(old_revision) + 1, 0
            while total > MAX_REVISION_HISTORY_CHARS and start < len(revisions):
                total -= len(revisions[start]) + 1
                start += 1
            if total <= MAX_REVISION_HISTORY_CHARS:
                annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*revisions[start:], old_revision])
    if not exists and _set_replicas_annotations(rs, _replicas(d), _replicas(d) + _max_surge(d)):
        changed = True
    return changed


def _deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    replicas = _replicas(d)
    return (
        (status.get("updatedReplicas") or 0) == replicas
        and (status.get("replicas") or 0) == replicas
        and (status.get("availableReplicas") or 0) == replicas
        and (status.get("observedGeneration") or 0) >= (d["metadata"].get("generation") or 0)
    )


def _deployment_progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = d.get("status") or {}

    def get(status: Mapping[str, Any], key: str) -> int:
        return int(status.get(key) or 0)

    return (
        get(new, "updatedReplicas") > get(old, "updatedReplicas")
        or get(new, "replicas") - get(new, "updatedReplicas") < get(old, "replicas") - get(old, "updatedReplicas")
        or get(new, "readyReplicas") > get(old, "readyReplicas")
        or get(new, "availableReplicas") > get(old, "availableReplicas")
    )


# --- the controllers -------------------------------------------------------------------------------------------


class AppsControllers:
    """The deployment and replicaset controllers of one cluster, as one reconcile step over all objects."""

    def __init__(self, cluster: KubeCluster) -> None:
        self._cluster = cluster
        self._objects = cluster.objects
        self._store = cluster.store

    @property
    def _time_scale(self) -> float:
        return self._cluster.time_scale or 1.0

    def _ctx(self) -> WriteContext:
        return self._cluster.system_context(CONTROLLER_MANAGER)

    def step(self) -> None:
        """One pass of both controllers; any write they make triggers the next pass."""
        deployments, _ = self._store.list(DEPLOYMENT.key, None)
        for deployment in deployments:
            self._guarded(self._sync_deployment, deployment)
        replica_sets, _ = self._store.list(REPLICA_SET.key, None)
        for replica_set in replica_sets:
            self._guarded(self._sync_replica_set, replica_set)

    def _guarded(self, sync: Callable[[Obj], None], obj: Obj) -> None:
        try:
            sync(obj)
        except StatusError as error:
            # Conflicts and vanished objects are retried by the next pass, which the competing write triggers.
            log.debug(
                "%s of %s/%s: %s", sync.__name__, obj["metadata"].get("namespace"), obj["metadata"]["name"], error
            )

    # --- writes ------------------------------------------------------------------------------------------------

    def _update_rs(self, rs: Obj) -> Obj:
        meta = rs["metadata"]
        return self._objects.update(REPLICA_SET, meta["namespace"], meta["name"], rs, self._ctx())

    def _update_deployment_status(self, d: Obj) -> Obj:
        """UpdateStatus; `d` then carries the new resourceVersion, as the requeued sync would see it."""
        meta = d["metadata"]
        stored = self._objects.update(DEPLOYMENT, meta["namespace"], meta["name"], d, self._ctx(), subresource="status")
        meta["resourceVersion"] = stored["metadata"]["resourceVersion"]
        return stored

    # --- replicaset controller (pkg/controller/replicaset) -----------------------------------------------------

    def _sync_replica_set(self, rs: Obj) -> None:
        meta = rs["metadata"]
        try:
            selector = label_selector(rs["spec"].get("selector"))
        except InvalidSelector:
            return
        pods, _ = self._store.list(POD.key, meta["namespace"])
        owned = self._claim_pods(rs, selector, [p for p in pods if _pod_active(p)])
        error = None if meta.get("deletionTimestamp") else self._manage_replicas(owned, rs, pods)
        status = self._replica_set_status(rs, owned, error)
        current = rs.get("status") or {}
        if (
            all((current.get(k) or 0) == (status.get(k) or 0) for k in self._RS_COUNTERS)
            and (meta.get("generation") or 0) == (current.get("observedGeneration") or 0)
            and (current.get("conditions") or []) == (status.get("conditions") or [])
        ):
            updated = rs
        else:
            status["observedGeneration"] = meta.get("generation") or 0
            rs["status"] = _omit_empty(
                {key: status.get(key) for key in (*self._RS_COUNTERS, "observedGeneration", "conditions")},
                keep=("replicas",),
            )
            updated = self._objects.update(
                REPLICA_SET, meta["namespace"], meta["name"], rs, self._ctx(), subresource="status"
            )
        min_ready = updated["spec"].get("minReadySeconds") or 0
        if (
            error is None
            and min_ready > 0
            and _status_count(updated, "readyReplicas") == _replicas(updated)
            and _status_count(updated, "availableReplicas") != _replicas(updated)
        ):
            self._cluster.controllers.later(min_ready / self._time_scale)

    _RS_COUNTERS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")

    def _claim_pods(self, rs: Obj, selector: LabelSelector | None, pods: list[Obj]) -> list[Obj]:
        """PodControllerRefManager.ClaimPods: own what matches, adopt matching orphans, release the rest."""
        uid = rs["metadata"]["uid"]
        deleting = bool(rs["metadata"].get("deletionTimestamp"))
        claimed = []
        for pod in pods:
            ref = controller_of(pod)
            matches = _selects(selector, pod["metadata"].get("labels"))
            if ref is not None and ref.get("uid") == uid:
                if matches or deleting:
                    claimed.append(pod)
                else:
                    self._set_owner(POD, pod, [r for r in pod["metadata"]["ownerReferences"] if r.get("uid") != uid])
            elif ref is None and matches and not deleting and not pod["metadata"].get("deletionTimestamp"):
                refs = [*(pod["metadata"].get("ownerReferences") or []), controller_ref(rs, REPLICA_SET)]
                adopted = self._set_owner(POD, pod, refs)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed

    def _set_owner(self, kind: Kind, obj: Obj, refs: list[dict[str, Any]]) -> Obj | None:
        """Adopt or release through an update (the real controllers patch ownerReferences)."""
        updated = clone(obj)
        updated["metadata"]["ownerReferences"] = refs
        if not refs:
            del updated["metadata"]["ownerReferences"]
        return self._objects.try_update(kind, updated, self._ctx())

    def _manage_replicas(self, owned: list[Obj], rs: Obj, all_pods: list[Obj]) -> str | None:
        diff = len(owned) - _replicas(rs)
        if diff < 0:
            for _ in range(min(-diff, BURST_REPLICAS)):
                try:
                    self._create_pod(rs)
                except StatusError as error:
                    causes = (error.details or {}).get("causes") or []
                    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
                        return None
                    return error.message
            return None
        if diff > 0:
            related = self._related_pods(rs, all_pods)
            node_counts: dict[str, int] = {}
            for pod in related:
                if _pod_active(pod):
                    node = pod["spec"].get("nodeName") or ""
                    node_counts[node] = node_counts.get(node, 0) + 1
            ranks = {p["metadata"]["uid"]: node_counts.get(p["spec"].get("nodeName") or "", 0) for p in owned}
            victims = _pods_to_delete_order(owned, ranks) if diff < len(owned) else owned
            for pod in victims[: min(diff, BURST_REPLICAS)]:
                try:
                    self._objects.delete(
                        POD, pod["metadata"]["namespace"], pod["metadata"]["name"], DeleteOptions(), self._ctx()
                    )
                except StatusError as error:
                    if error.code != 404:
                        return error.message
        return None

    def _related_pods(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        """Pods of every ReplicaSet with the same controller (getIndirectlyRelatedPods)."""
        ref = controller_of(rs)
        if ref is None:
            siblings = [rs]
        else:
            candidates, _ = self._store.list(REPLICA_SET.key, rs["metadata"]["namespace"])
            siblings = [c for c in candidates if (controller_of(c) or {}).get("uid") == ref.get("uid")]
        related: dict[str, Obj] = {}
        for sibling in siblings:
            try:
                selector = label_selector(sibling["spec"].get("selector"))
            except InvalidSelector:
                continue
            for pod in pods:
                if _selects(selector, pod["metadata"].get("labels")):
                    related.setdefault(pod["metadata"]["uid"], pod)
        return list(related.values())

    def _create_pod(self, rs: Obj) -> Obj:
        """controller.GetPodFromTemplate + CreatePodsWithControllerRef."""
        template = rs["spec"].get("template") or {}
        template_meta = template.get("metadata") or {}
        name = rs["metadata"]["name"]
        prefix = f"{name}-" if not name_is_dns_subdomain(f"{name}-", True) else name
        metadata: dict[str, Any] = {"generateName": prefix}
        for key in ("labels", "annotations", "finalizers"):
            if template_meta.get(key):
                metadata[key] = clone(template_meta[key])
        metadata["ownerReferences"] = [controller_ref(rs, REPLICA_SET)]
        body = {"metadata": metadata, "spec": clone(template.get("spec") or {})}
        return self._objects.create(POD, rs["metadata"]["namespace"], body, self._ctx())

    def _replica_set_status(self, rs: Obj, pods: list[Obj], error: str | None) -> dict[str, Any]:
        """replicaset calculateStatus."""
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = rs["spec"].get("minReadySeconds") or 0
        now = datetime.now(UTC)
        fully = ready = available = 0
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully += 1
            if is_pod_ready(pod):
                ready += 1
                if self._available(pod, min_ready, now):
                    available += 1
        status = clone(rs.get("status") or {})
        conditions = status.get("conditions") or []
        failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        if error is not None and failure is None:
            reason = "FailedCreate" if len(pods) < _replicas(rs) else "FailedDelete"
            conditions = [
                *conditions,
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": now_rfc3339(),
                    "reason": reason,
                    "message": error,
                },
            ]
        elif error is None and failure is not None:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        status.update(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": fully,
                "readyReplicas": ready,
                "availableReplicas": available,
                "conditions": conditions,
            }
        )
        return status

    def _available(self, pod: Obj, min_ready: int, now: datetime) -> bool:
        """podutil.IsPodAvailable, with minReadySeconds on the cluster's time scale."""
        if min_ready == 0:
            return True
        since = _parse_time((_pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
        return since is not None and (now - since).total_seconds() > min_ready / self._time_scale

    # --- deployment controller (pkg/controller/deployment) ---------------------------------------------------

    def _sync_deployment(self, stored: Obj) -> None:
        d = clone(stored)
        try:
            selector = label_selector(d["spec"].get("selector"))
        except InvalidSelector:
            return
        if selector is not None and selector.empty:
            status = d.setdefault("status", {})
            if (status.get("observedGeneration") or 0) < (d["metadata"].get("generation") or 0):
                status["observedGeneration"] = d["metadata"].get("generation")
                self._update_deployment_status(d)
            return
        rs_list = self._claim_replica_sets(d, selector)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
            self._sync_status(d, [*old_rss, new_rs], new_rs)
            return
        self._check_paused_conditions(d)
        if d["spec"].get("paused"):
            self._sync(d, rs_list)
            return
        if self._is_scaling_event(d, rs_list):
            self._sync(d, rs_list)
            return
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self._rollout_recreate(d, rs_list, selector)
        else:
            self._rollout_rolling(d, rs_list)

    def _claim_replica_sets(self, d: Obj, selector: LabelSelector | None) -> list[Obj]:
        """ReplicaSetControllerRefManager.ClaimReplicaSets."""
        uid = d["metadata"]["uid"]
        deleting = bool(d["metadata"].get("deletionTimestamp"))
        candidates, _ = self._store.list(REPLICA_SET.key, d["metadata"]["namespace"])
        owned = []
        for rs in candidates:
            ref = controller_of(rs)
            matches = _selects(selector, rs["metadata"].get("labels"))
            if ref is not None and ref.get("uid") == uid:
                if matches or deleting:
                    owned.append(rs)
                else:
                    self._set_owner(
                        REPLICA_SET, rs, [r for r in rs["metadata"]["ownerReferences"] if r.get("uid") != uid]
                    )
            elif ref is None and matches and not deleting and not rs["metadata"].get("deletionTimestamp"):
                refs = [*(rs["metadata"].get("ownerReferences") or []), controller_ref(d, DEPLOYMENT)]
                adopted = self._set_owner(REPLICA_SET, rs, refs)
                if adopted is not None:
                    owned.append(adopted)
        return owned

    def _all_replica_sets(self, d: Obj, rs_list: list[Obj], *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: (the new ReplicaSet or None, all the old ones)."""
        new_rs = self._find_new(d, rs_list)
        old_rss = [rs for rs in rs_list if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        return self._new_replica_set(d, rs_list, old_rss, create), old_rss

    @staticmethod
    def _find_new(d: Obj, rs_list: list[Obj]) -> Obj | None:
        template = d["spec"].get("template") or {}
        return next(
            (rs for rs in _by_creation(rs_list) if _equal_ignore_hash(rs["spec"].get("template") or {}, template)), None
        )

    def _new_replica_set(self, d: Obj, rs_list: list[Obj], old_rss: list[Obj], create: bool) -> Obj | None:
        """getNewReplicaSet: sync the existing new ReplicaSet's annotations, or create it."""
        existing = self._find_new(d, rs_list)
        new_revision = str(max((_revision(rs) for rs in old_rss), default=0) + 1)
        status = d.setdefault("status", {})
        if existing is not None:
            rs_copy = clone(existing)
            annotations_updated = _set_new_rs_annotations(d, rs_copy, new_revision, True)
            min_ready = d["spec"].get("minReadySeconds") or 0
            if annotations_updated or (rs_copy["spec"].get("minReadySeconds") or 0) != min_ready:
                rs_copy["spec"]["minReadySeconds"] = min_ready
                if not min_ready:
                    rs_copy["spec"].pop("minReadySeconds")
                return self._update_rs(rs_copy)
            needs_update = self._set_revision(
                d, (rs_copy["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "")
            )
            if _has_progress_deadline(d) and _get_condition(status, "Progressing") is None:
                message = f'Found new replica set "{rs_copy["metadata"]["name"]}"'
                _set_condition(status, _new_condition("Progressing", "True", FOUND_NEW_RS, message))
                needs_update = True
            if needs_update:
                self._update_deployment_status(d)
            return rs_copy
        if not create:
            return None
        template = clone(d["spec"].get("template") or {})
        template_hash = pod_template_hash(template, status.get("collisionCount"))
        labels = {**(template["metadata"].get("labels") or {}), POD_TEMPLATE_HASH_LABEL: template_hash}
        template["metadata"]["labels"] = labels
        selector = clone(d["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: template_hash}
        name = f"{d['metadata']['name']}-{template_hash}"
        new_rs: Obj = {
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "labels": dict(labels),
                "ownerReferences": [controller_ref(d, DEPLOYMENT)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        if d["spec"].get("minReadySeconds"):
            new_rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"]
        new_rs["spec"]["replicas"] = self._new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        _set_new_rs_annotations(d, new_rs, new_revision, False)
        already_exists = False
        try:
            created = self._objects.create(REPLICA_SET, d["metadata"]["namespace"], new_rs, self._ctx())
        except StatusError as error:
            if error.code == 409 and error.reason == "AlreadyExists":
                found = self._store.get(REPLICA_SET.key, d["metadata"]["namespace"], name)
                if found is None:
                    raise
                ref = controller_of(found)
                if (
                    ref is not None
                    and ref.get("uid") == d["metadata"]["uid"]
                    and _equal_ignore_hash(d["spec"].get("template") or {}, found["spec"].get("template") or {})
                ):
                    created, already_exists = found, True
                else:
                    status["collisionCount"] = (status.get("collisionCount") or 0) + 1
                    self._update_deployment_status(d)
                    raise
            elif any(c.get("reason") == "NamespaceTerminating" for c in (error.details or {}).get("causes") or []):
                raise
            else:
                message = f'Failed to create new replica set "{name}": {error.message}'
                if _has_progress_deadline(d):
                    _set_condition(status, _new_condition("Progressing", "False", FAILED_RS_CREATE, message))
                    self._update_deployment_status(d)
                raise
        needs_update = self._set_revision(d, new_revision)
        if not already_exists and _has_progress_deadline(d):
            message = f'Created new replica set "{created["metadata"]["name"]}"'
            _set_condition(status, _new_condition("Progressing", "True", NEW_REPLICA_SET, message))
            needs_update = True
        if needs_update:
            self._update_deployment_status(d)
        return created

    @staticmethod
    def _set_revision(d: Obj, revision: str) -> bool:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION_ANNOTATION) != revision:
            annotations[REVISION_ANNOTATION] = revision
            return True
        return False

    @staticmethod
    def _new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
        """deploymentutil.NewRSNewReplicas."""
        strategy = d["spec"].get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return _replicas(d)
        surge = scaled_value((strategy.get("rollingUpdate") or {}).get("maxSurge", 0), _replicas(d), True)
        current = _sum(all_rss, _replicas)
        max_total = _replicas(d) + surge
        if current >= max_total:
            return _replicas(new_rs)
        scale_up = min(max_total - current, _replicas(d) - _replicas(new_rs))
        return _replicas(new_rs) + scale_up

    def _check_paused_conditions(self, d: Obj) -> None:
        if not _has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        condition = _get_condition(status, "Progressing")
        if condition is not None and condition.get("reason") == TIMED_OUT:
            return
        paused_exists = condition is not None and condition.get("reason") == PAUSED
        if d["spec"].get("paused") and not paused_exists:
            _set_condition(status, _new_condition("Progressing", "Unknown", PAUSED, "Deployment is paused"))
        elif not d["spec"].get("paused") and paused_exists:
            _set_condition(status, _new_condition("Progressing", "Unknown", RESUMED, "Deployment is resumed"))
        else:
            return
        self._update_deployment_status(d)

    def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
        for rs in _active([*old_rss, new_rs]):
            desired = _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != _replicas(d):
                return True
        return False

    def _sync(self, d: Obj, rs_list: list[Obj]) -> None:
        """sync: scale (a scaling event or a paused deployment) and report status."""
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
        self._scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            self._cleanup(d, old_rss)
        self._sync_status(d, [*old_rss, new_rs], new_rs)

    def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """DeploymentController.scale: proportional scaling across the active ReplicaSets."""
        active_or_latest = self._active_or_latest(new_rs, old_rss)
        if active_or_latest is not None:
            if _replicas(active_or_latest) != _replicas(d):
                self._scale_rs(active_or_latest, _replicas(d), d)
            return
        if self._saturated(d, new_rs):
            for old in _active(old_rss):
                self._scale_rs(old, 0, d)
            return
        if (d["spec"].get("strategy") or {}).get("type") != "RollingUpdate":
            return
        all_rss = _active([*old_rss, new_rs])
        total = _sum(all_rss, _replicas)
        allowed = _replicas(d) + _max_surge(d) if _replicas(d) > 0 else 0
        to_add = allowed - total
        if to_add > 0:
            # ReplicaSetsBySizeNewer: bigger first, newer first among equals.
            all_rss.sort(
                key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]), reverse=True
            )
            all_rss.sort(key=lambda rs: -_replicas(rs))
        elif to_add < 0:
            all_rss = sorted(_by_creation(all_rss), key=lambda rs: -_replicas(rs))
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            if to_add != 0:
                proportion = self._proportion(rs, d, to_add, added)
                sizes[rs["metadata"]["name"]] = _replicas(rs) + proportion
                added += proportion
            else:
                sizes[rs["metadata"]["name"]] = _replicas(rs)
        for index, rs in enumerate(all_rss):
            name = rs["metadata"]["name"]
            if index == 0 and to_add != 0:
                sizes[name] = max(sizes[name] + to_add - added, 0)
            self._scale_rs(rs, sizes[name], d, force=True)

    @staticmethod
    def _active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
        if new_rs is None and not old_rss:
            return None
        newest_first = list(reversed(_by_creation(old_rss)))
        active = _active([*newest_first, new_rs])
        if not active:
            return new_rs if new_rs is not None else newest_first[0]
        return active[0] if len(active) == 1 else None

    @staticmethod
    def _saturated(d: Obj, rs: Obj | None) -> bool:
        if rs is None:
            return False
        desired = _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
        return (
            desired is not None
            and _replicas(rs) == _replicas(d)
            and desired == _replicas(d)
            and _status_count(rs, "availableReplicas") == _replicas(d)
        )

    @staticmethod
    def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
        """deploymentutil.GetProportion."""
        if _replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        if _replicas(d) == 0:
            fraction = -_replicas(rs)
        else:
            deployment_replicas = _replicas(d) + _max_surge(d)
            annotated = _int_annotation(rs, MAX_REPLICAS_ANNOTATION)
            if annotated is None:
                annotated = _status_count(d, "replicas")
            size = _replicas(rs) * deployment_replicas / annotated if annotated else math.inf
            rounded = int(size - 0.5) if size < 0 else (int(size + 0.5) if math.isfinite(size) else MAX_INT32)
            fraction = rounded - _replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def _scale_rs(self, rs: Obj, size: int, d: Obj, *, force: bool = False) -> tuple[bool, Obj]:
        """scaleReplicaSet(AndRecordEvent): new size and the replica annotations in one update."""
        if not force and _replicas(rs) == size:
            return False, rs
        size_changed = _replicas(rs) != size
        desired, maximum = _replicas(d), _replicas(d) + _max_surge(d)
        if not size_changed and not _replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        rs_copy = clone(rs)
        rs_copy["spec"]["replicas"] = size
        _set_replicas_annotations(rs_copy, desired, maximum)
        return size_changed, self._update_rs(rs_copy)

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        """cleanupDeployment: keep at most revisionHistoryLimit old ReplicaSets that have scaled to zero."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None or limit == MAX_INT32:
            return
        alive = _by_creation([rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")])
        for rs in alive[: max(len(alive) - limit, 0)]:
            if (
                _status_count(rs, "replicas") != 0
                or _replicas(rs) != 0
                or (rs["metadata"].get("generation") or 0) > _status_count(rs, "observedGeneration")
            ):
                continue
            try:
                self._objects.delete(
                    REPLICA_SET, rs["metadata"]["namespace"], rs["metadata"]["name"], DeleteOptions(), self._ctx()
                )
            except StatusError as error:
                if error.code != 404:
                    raise

    def _calculate_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> dict[str, Any]:
        available = _sum(all_rss, lambda rs: _status_count(rs, "availableReplicas"))
        total = _sum(all_rss, _replicas)
        old = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation") or 0,
            "replicas": _sum(all_rss, lambda rs: _status_count(rs, "replicas")),
            "updatedReplicas": _sum([new_rs], lambda rs: _status_count(rs, "replicas")),
            "readyReplicas": _sum(all_rss, lambda rs: _status_count(rs, "readyReplicas")),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
            "conditions": [clone(c) for c in old.get("conditions") or []],
        }
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        if available >= _replicas(d) - _max_unavailable(d):
            condition = _new_condition(
                "Available", "True", MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability."
            )
        else:
            condition = _new_condition(
                "Available", "False", MINIMUM_REPLICAS_UNAVAILABLE, "Deployment does not have minimum availability."
            )
        _set_condition(status, condition)
        return status

    def _write_status_if_changed(self, d: Obj, status: dict[str, Any]) -> bool:
        new_status = _omit_empty(status, keep=("collisionCount",))
        if new_status == _omit_empty(d.get("status") or {}, keep=("collisionCount",)):
            return False
        d["status"] = new_status
        self._update_deployment_status(d)
        return True

    def _sync_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> None:
        """syncDeploymentStatus."""
        self._write_status_if_changed(d, self._calculate_status(d, all_rss, new_rs))

    def _rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=True)
        assert new_rs is not None
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        if self._reconcile_new(all_rss, new_rs, d):
            self._sync_rollout_status(d, all_rss, new_rs)
            return
        if self._reconcile_old(all_rss, _active(old_rss), new_rs, d):
            self._sync_rollout_status(d, all_rss, new_rs)
            return
        if _deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._sync_rollout_status(d, all_rss, new_rs)

    def _reconcile_new(self, all_rss: list[Obj | None], new_rs: Obj, d: Obj) -> bool:
        if _replicas(new_rs) == _replicas(d):
            return False
        if _replicas(new_rs) > _replicas(d):
            return self._scale_rs(new_rs, _replicas(d), d)[0]
        count = self._new_rs_new_replicas(d, [rs for rs in all_rss if rs is not None], new_rs)
        return self._scale_rs(new_rs, count, d)[0]

    def _reconcile_old(self, all_rss: list[Obj | None], old_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        old_count = _sum(old_rss, _replicas)
        if old_count == 0:
            return False
        all_count = _sum(all_rss, _replicas)
        min_available = _replicas(d) - _max_unavailable(d)
        new_unavailable = _replicas(new_rs) - _status_count(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        old_rss, cleaned = self._cleanup_unhealthy(old_rss, d, max_scaled_down)
        scaled = self._scale_down_old([*old_rss, new_rs], old_rss, d)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, old_rss: list[Obj], d: Obj, max_cleanup: int) -> tuple[list[Obj], int]:
        old_rss = _by_creation(old_rss)
        total = 0
        for index, rs in enumerate(old_rss):
            if total >= max_cleanup:
                break
            if _replicas(rs) == 0 or _replicas(rs) == _status_count(rs, "availableReplicas"):
                continue
            count = min(max_cleanup - total, _replicas(rs) - _status_count(rs, "availableReplicas"))
            _, old_rss[index] = self._scale_rs(rs, _replicas(rs) - count, d)
            total += count
        return old_rss, total

    def _scale_down_old(self, all_rss: list[Obj], old_rss: list[Obj], d: Obj) -> int:
        min_available = _replicas(d) - _max_unavailable(d)
        available = _sum(all_rss, lambda rs: _status_count(rs, "availableReplicas"))
        if available <= min_available:
            return 0
        total, target = 0, available - min_available
        for rs in _by_creation(old_rss):
            if total >= target:
                break
            if _replicas(rs) == 0:
                continue
            count = min(_replicas(rs), target - total)
            self._scale_rs(rs, _replicas(rs) - count, d)
            total += count
        return total

    def _rollout_recreate(self, d: Obj, rs_list: list[Obj], selector: LabelSelector | None) -> None:
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in _active(old_rss):
            scaled_down = self._scale_rs(rs, 0, d)[0] or scaled_down
        if scaled_down or self._old_pods_running(d, new_rs, old_rss, rs_list, selector):
            self._sync_rollout_status(d, all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old_rss = self._all_replica_sets(d, rs_list, create=True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        self._scale_rs(new_rs, _replicas(d), d)
        if _deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._sync_rollout_status(d, all_rss, new_rs)

    def _old_pods_running(
        self, d: Obj, new_rs: Obj | None, old_rss: list[Obj], rs_list: list[Obj], selector: LabelSelector | None
    ) -> bool:
        if _sum(old_rss, lambda rs: _status_count(rs, "replicas")) > 0:
            return True
        owners = {rs["metadata"]["uid"] for rs in rs_list}
        if new_rs is not None:
            owners.discard(new_rs["metadata"]["uid"])
        pods, _ = self._store.list(POD.key, d["metadata"]["namespace"])
        for pod in pods:
            ref = controller_of(pod)
            if ref is None or ref.get("uid") not in owners or not _selects(selector, pod["metadata"].get("labels")):
                continue
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
        return False

    def _sync_rollout_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> None:
        """syncRolloutStatus: the Progressing condition (created, updated, available, timed out)."""
        status = self._calculate_status(d, all_rss, new_rs)
        if not _has_progress_deadline(d):
            _remove_condition(status, "Progressing")
        old_status = d.get("status") or {}
        current = _get_condition(old_status, "Progressing")
        complete = (
            (status.get("replicas") or 0) == (status.get("updatedReplicas") or 0)
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        name = (
            f'ReplicaSet "{new_rs["metadata"]["name"]}"'
            if new_rs is not None
            else f'Deployment "{d["metadata"]["name"]}"'
        )
        if _has_progress_deadline(d) and not complete:
            if _deployment_complete(d, status):
                condition = _new_condition(
                    "Progressing", "True", NEW_RS_AVAILABLE, f"{name} has successfully progressed."
                )
                _set_condition(status, condition)
            elif _deployment_progressing(d, status):
                condition = _new_condition("Progressing", "True", REPLICA_SET_UPDATED, f"{name} is progressing.")
                if current is not None:
                    if current.get("status") == "True":
                        condition["lastTransitionTime"] = current.get("lastTransitionTime")
                    _remove_condition(status, "Progressing")
                _set_condition(status, condition)
            elif self._timed_out(d, status):
                condition = _new_condition("Progressing", "False", TIMED_OUT, f"{name} has timed out progressing.")
                _set_condition(status, condition)
        failures = self._replica_failures(all_rss, new_rs)
        if failures:
            _set_condition(status, failures[0])
        else:
            _remove_condition(status, "ReplicaFailure")
        if not self._write_status_if_changed(d, status):
            self._requeue_stuck(d, status)

    def _timed_out(self, d: Obj, status: Mapping[str, Any]) -> bool:
        """deploymentutil.DeploymentTimedOut, with the deadline on the cluster's time scale."""
        condition = _get_condition(status, "Progressing")
        if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        since = _parse_time(condition.get("lastUpdateTime"))
        deadline = (d["spec"].get("progressDeadlineSeconds") or 0) / self._time_scale
        return since is not None and (datetime.now(UTC) - since).total_seconds() > deadline

    def _requeue_stuck(self, d: Obj, status: Mapping[str, Any]) -> None:
        """requeueStuckDeployment: look again when the progress deadline passes."""
        current = _get_condition(d.get("status") or {}, "Progressing")
        if not _has_progress_deadline(d) or current is None:
            return
        if _deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
            return
        since = _parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        deadline = (d["spec"].get("progressDeadlineSeconds") or 0) / self._time_scale
        after = deadline - (datetime.now(UTC) - since).total_seconds()
        self._cluster.controllers.later(max(after, 0.0) + 1.0 / self._time_scale)

    @staticmethod
    def _replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[dict[str, Any]]:
        def failures(rs: Obj) -> list[dict[str, Any]]:
            return [
                {
                    "type": c.get("type"),
                    "status": c.get("status"),
                    "lastUpdateTime": c.get("lastTransitionTime"),
                    "lastTransitionTime": c.get("lastTransitionTime"),
                    "reason": c.get("reason"),
                    "message": c.get("message"),
                }
                for c in (rs.get("status") or {}).get("conditions") or []
                if c.get("type") == "ReplicaFailure"
            ]

        if new_rs is not None and failures(new_rs):
            return failures(new_rs)
        return [f for rs in all_rss if rs is not None for f in failures(rs)]


def install(cluster: KubeCluster) -> None:
    """Register the deployment and replicaset controllers on the cluster."""
    cluster.controllers.register(AppsControllers(cluster).step)
