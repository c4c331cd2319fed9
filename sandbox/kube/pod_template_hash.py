"""The pod-template-hash: controller.ComputeHash of a pod template, as the deployment controller names
ReplicaSets `<deployment>-<hash>` (Go's spew dump of the template, FNV-32a, the safe alphabet)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.context import SAFE_ALPHABET
from ack_compute.sandbox.kube.quantity import canonical_quantity, split_quantity

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
    parts = split_quantity(text)
    if parts is None:
        return 0, 0, "", "DecimalSI", None
    negative, num, denom = parts.negative, parts.num, parts.denom
    base, exponent, fmt = parts.base, parts.exponent, parts.format
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
    return "".join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in text)


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
