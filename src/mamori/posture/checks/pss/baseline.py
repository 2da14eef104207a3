"""MAM-PSS-001..012: the Pod Security Standards baseline checks (v1.37)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mamori.posture.checks.pss.common import (
    PodRule,
    containers_sc,
    pod_sc_path,
    pss_check,
    user_namespaced,
)
from mamori.posture.model import ContainerRef, FieldPath, Level
from mamori.posture.workload import Workload, as_list, as_map

Found = Iterator[tuple[FieldPath, str, ContainerRef | None, Any]]
M, H = Level.MEDIUM, Level.HIGH


def host_namespaces(pod: Workload) -> Found:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.spec.get(key) is True:
            yield (*pod.spec_path, key), f"{key}=true", None, True


def privileged(pod: Workload) -> Found:
    for ref, sc, path in containers_sc(pod):
        if sc.get("privileged") is True:
            yield (*path, "privileged"), f'container "{ref.name}" privileged=true', ref, True


BASELINE_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def capabilities_baseline(pod: Workload) -> Found:
    for ref, sc, path in containers_sc(pod):
        for i, cap in enumerate(as_list(as_map(sc.get("capabilities")).get("add"))):
            if cap not in BASELINE_CAPS:
                where = (*path, "capabilities", "add", i)
                yield where, f'container "{ref.name}" adds {cap}', ref, cap


def host_path_volumes(pod: Workload) -> Found:
    for i, volume in enumerate(as_list(pod.spec.get("volumes"))):
        if as_map(volume).get("hostPath") is not None:
            where = (*pod.spec_path, "volumes", i, "hostPath")
            yield where, f'hostPath volume "{as_map(volume).get("name")}"', None, None


def host_ports(pod: Workload) -> Found:
    for ref, body in pod.containers():
        for j, port in enumerate(as_list(body.get("ports"))):
            value = as_map(port).get("hostPort")
            if value not in (None, 0):
                where = (*ref.path, "ports", j, "hostPort")
                yield where, f'container "{ref.name}" hostPort {value}', ref, value


APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _apparmor_field_ok(value: Any) -> bool:
    return value is None or as_map(value).get("type") in ("RuntimeDefault", "Localhost")


def apparmor(pod: Workload) -> Found:
    for key, value in pod.annotations.items():
        if str(key).startswith(APPARMOR_PREFIX):
            text = str(value)
            if not (text in ("", "runtime/default") or text.startswith("localhost/")):
                where = (*pod.meta_path, "annotations", key)
                yield where, f"annotation {key}={text}", None, text
    profile = pod.pod_security_context.get("appArmorProfile")
    if not _apparmor_field_ok(profile):
        yield (*pod_sc_path(pod), "appArmorProfile"), "pod appArmorProfile", None, profile
    for ref, sc, path in containers_sc(pod):
        if not _apparmor_field_ok(sc.get("appArmorProfile")):
            where = (*path, "appArmorProfile")
            yield where, f'container "{ref.name}" appArmorProfile', ref, sc.get("appArmorProfile")


SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)


def _selinux_bad(options: Any) -> list[str]:
    opts = as_map(options)
    bad = []
    if opts.get("type") not in (None, *SELINUX_TYPES):
        bad.append(f"type={opts.get('type')}")
    bad += [f"{k}={opts[k]}" for k in ("user", "role") if opts.get(k) not in (None, "")]
    return bad


def selinux(pod: Workload) -> Found:
    bad = _selinux_bad(pod.pod_security_context.get("seLinuxOptions"))
    if bad:
        yield (*pod_sc_path(pod), "seLinuxOptions"), "pod " + ", ".join(bad), None, bad
    for ref, sc, path in containers_sc(pod):
        bad = _selinux_bad(sc.get("seLinuxOptions"))
        if bad:
            where = (*path, "seLinuxOptions")
            yield where, f'container "{ref.name}" ' + ", ".join(bad), ref, bad


def _proc_mount(pod: Workload, relax: bool) -> Found:
    if relax and user_namespaced(pod):
        return
    for ref, sc, path in containers_sc(pod):
        value = sc.get("procMount")
        if value not in (None, "Default"):
            yield (*path, "procMount"), f'container "{ref.name}" procMount={value}', ref, value


def proc_mount(pod: Workload) -> Found:
    return _proc_mount(pod, relax=True)


def seccomp_baseline(pod: Workload) -> Found:
    profile = as_map(pod.pod_security_context.get("seccompProfile"))
    if profile.get("type") == "Unconfined":
        yield (*pod_sc_path(pod), "seccompProfile", "type"), "pod Unconfined", None, "Unconfined"
    for ref, sc, path in containers_sc(pod):
        if as_map(sc.get("seccompProfile")).get("type") == "Unconfined":
            where = (*path, "seccompProfile", "type")
            yield where, f'container "{ref.name}" Unconfined', ref, "Unconfined"


SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",  # 1.27
        "net.ipv4.tcp_keepalive_time",  # 1.29
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",  # 1.32
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",  # 1.37
        "net.ipv4.tcp_notsent_lowat",
    }
)


def sysctls(pod: Workload) -> Found:
    for i, entry in enumerate(as_list(pod.pod_security_context.get("sysctls"))):
        name = as_map(entry).get("name")
        if name not in SAFE_SYSCTLS:
            yield (*pod_sc_path(pod), "sysctls", i, "name"), f"sysctl {name}", None, name


def windows_host_process(pod: Workload) -> Found:
    options = as_map(pod.pod_security_context.get("windowsOptions"))
    if options.get("hostProcess") is True:
        yield (*pod_sc_path(pod), "windowsOptions", "hostProcess"), "pod hostProcess", None, True
    for ref, sc, path in containers_sc(pod):
        if as_map(sc.get("windowsOptions")).get("hostProcess") is True:
            where = (*path, "windowsOptions", "hostProcess")
            yield where, f'container "{ref.name}" hostProcess', ref, True


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")


def _handlers(body: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
    """The probes and lifecycle hooks a container has (most have none or one)."""
    body = as_map(body)
    for probe in PROBES:
        handler = body.get(probe)
        if handler is not None:
            yield (probe,), handler
    lifecycle = as_map(body.get("lifecycle"))
    for hook in HOOKS:
        handler = lifecycle.get(hook)
        if handler is not None:
            yield ("lifecycle", hook), handler


def host_probes(pod: Workload) -> Found:
    for ref, body in pod.containers():
        for where, handler in _handlers(body):
            for action in ("httpGet", "tcpSocket"):
                host = as_map(as_map(handler).get(action)).get("host")
                if host not in (None, ""):
                    path = (*ref.path, *where, action, "host")
                    yield path, f'container "{ref.name}" {".".join(where)} host={host}', ref, host


def _c(
    number: int, upstream: str, sev: Level, rule: PodRule, fields: tuple[str, ...], fix: str
) -> Any:
    return pss_check(
        number,
        upstream,
        "baseline",
        sev,
        rule,
        fields=fields,
        remediation=f"Meet the Pod Security Standards baseline control {upstream}.",
        fix=fix,
    )


BASELINE = (
    _c(
        1,
        "hostNamespaces",
        M,
        host_namespaces,
        ("spec.hostNetwork", "spec.hostPID", "spec.hostIPC"),
        "hostNetwork: false",
    ),
    _c(
        2,
        "privileged",
        M,
        privileged,
        ("<c>.securityContext.privileged",),
        "securityContext: {privileged: false}",
    ),
    _c(
        3,
        "capabilities_baseline",
        M,
        capabilities_baseline,
        ("<c>.securityContext.capabilities.add",),
        'securityContext: {capabilities: {drop: ["ALL"]}}',
    ),
    _c(
        4,
        "hostPathVolumes",
        M,
        host_path_volumes,
        ("spec.volumes[].hostPath",),
        "volumes: [{name: data, emptyDir: {}}]",
    ),
    _c(5, "hostPorts", M, host_ports, ("<c>.ports[].hostPort",), "ports: [{containerPort: 8080}]"),
    _c(
        6,
        "appArmorProfile",
        H,
        apparmor,
        ("<c>.securityContext.appArmorProfile",),
        "securityContext: {appArmorProfile: {type: RuntimeDefault}}",
    ),
    _c(
        7,
        "seLinuxOptions",
        M,
        selinux,
        ("<c>.securityContext.seLinuxOptions",),
        "securityContext: {seLinuxOptions: {type: container_t}}",
    ),
    _c(
        8,
        "procMount",
        M,
        proc_mount,
        ("<c>.securityContext.procMount",),
        "securityContext: {procMount: Default}",
    ),
    _c(
        9,
        "seccompProfile_baseline",
        M,
        seccomp_baseline,
        ("<c>.securityContext.seccompProfile.type",),
        "securityContext: {seccompProfile: {type: RuntimeDefault}}",
    ),
    _c(
        10,
        "sysctls",
        M,
        sysctls,
        ("spec.securityContext.sysctls[].name",),
        "securityContext: {sysctls: []}",
    ),
    _c(
        11,
        "windowsHostProcess",
        M,
        windows_host_process,
        ("<c>.securityContext.windowsOptions.hostProcess",),
        "securityContext: {windowsOptions: {hostProcess: false}}",
    ),
    _c(
        12,
        "hostProbesAndHostLifecycle",
        M,
        host_probes,
        ("<c>.livenessProbe.httpGet.host",),
        "livenessProbe: {httpGet: {path: /healthz, port: 8080}}",
    ),
)
