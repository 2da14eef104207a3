"""``--target kubernetes``: the scenarios' victims as pods on a cluster, through ``kubectl``.

Per run: one preflight ``kubectl get namespace`` (kubectl there, cluster reachable, no earlier
run's namespace left), then per namespace the scenarios use (``mamori-sim``, and
``mamori-sim-quiet`` for S7h) a ``kubectl apply`` of the namespace, the victim's ServiceAccount
and a deny-all NetworkPolicy. Per scenario: ``kubectl apply`` of a victim pod named as on
Docker (``mamori-sim-<scenario>-<run id>``: the judge attributes alerts by pod), ``kubectl
wait --for=condition=Ready``, then ``kubectl exec`` per step. ``kubectl exec`` has no ``-u``:
a step run as a user goes through the image's busybox ``su`` (``su -s /bin/sh USER -c 'exec
"$0" "$@"' ARGV...``), which execs the step's argv as that user, so the process tree under it
is the same as after ``docker exec -u``. At the end, always (error, Ctrl-C), unless ``keep``:
``kubectl delete namespace --wait=false`` per namespace.

Control-plane steps: by default the recorded audit events are posted to mamori, as on Docker
(a cluster's audit log reaches mamori only when the user ships it there; and S9's reference
samples, a LoadBalancer Service and a cluster-wide admission webhook, are not things to create
on someone's cluster). ``--control-plane real`` does S9's trio with kubectl instead
(``ClusterActions``): a privileged pod that is never scheduled, the victim's ServiceAccount bound
to cluster-admin for the seconds of one exec, the exec, and the namespace's events deleted;
everything labelled ``mamori.simulation=<run id>``, the binding deleted at once and again by
label at cleanup, the rest with the namespace.

Every call is an argv list (no shell); ``--kubeconfig``/``--context`` go before the verb.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mamori.core.simulation import SIM_LABEL
from mamori.simulate import image
from mamori.simulate.audit_events import SIM_NAMESPACE
from mamori.simulate.kubernetes import (
    cluster_admin_binding,
    namespace_docs,
    privileged_pod,
    to_yaml,
    victim_pod,
)
from mamori.simulate.runner import (
    SetupError,
    SimulationError,
    Started,
    run_with_tty,
)
from mamori.simulate.scenarios import ClusterActions, Exec, Scenario

DESCRIBE_LINES = 15
WAIT_SLICE_S = 10.0
# Container states that will not become Ready by waiting (restartPolicy Never: an init
# container's Error is final).
FATAL = frozenset(
    {
        "ErrImageNeverPull",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "Error",
        "OOMKilled",
    }
)
REMOTE_EXIT = "command terminated with exit code"  # kubectl's line when the command failed


def as_user(user: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run as ``user`` inside the container (root there): busybox ``su`` execs a shell
    as the user that execs ``argv`` (``$0 $@``), with no quoting of its own."""
    if not user:
        return list(argv)
    return ["su", "-s", "/bin/sh", user, "-c", 'exec "$0" "$@"', *argv]


@dataclass(frozen=True)
class Images:
    victim: str
    attacker: str

    @classmethod
    def pick(
        cls, prefix: str | None = None, victim: str | None = None, attacker: str | None = None
    ) -> Images:
        """Given names win; else ``<prefix>/mamori-sim-{victim,attacker}:<digest>`` with the
        digest of the images this mamori builds (``local`` prefix: loaded into the nodes)."""
        if victim and attacker:
            return cls(victim, attacker)
        try:
            tag = image.image_digest()
        except image.ImageError as exc:
            raise SetupError(
                f"{exc}; or name the images: --victim-image, --attacker-image"
            ) from exc
        base = (prefix or "local").rstrip("/")
        return cls(
            victim or f"{base}/mamori-sim-victim:{tag}",
            attacker or f"{base}/mamori-sim-attacker:{tag}",
        )


class Kubectl:
    """``kubectl [--kubeconfig F] [--context C] VERB ...`` as argv lists."""

    def __init__(
        self, binary: str | None = None, kubeconfig: Path | None = None, context: str | None = None
    ) -> None:
        found = shutil.which(binary or "kubectl")  # a path, or a name looked up on PATH
        if not found:
            where = binary or "on PATH"
            raise SetupError(f"kubectl not found ({where}): install it or pass --kubectl PATH")
        self.binary = found
        self.globals: list[str] = []
        if kubeconfig is not None:
            self.globals += ["--kubeconfig", str(kubeconfig)]
        if context:
            self.globals += ["--context", context]

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.globals, *args]

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(  # noqa: S603 - argv, no shell
                self.argv(*args),
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SimulationError(f"kubectl {args[0]}: no answer in {timeout:.0f}s") from exc
        except OSError as exc:
            raise SetupError(f"kubectl: {exc}") from exc


def _tail(text: str, lines: int = DESCRIBE_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class KubernetesTarget:
    """Victim pods on the cluster ``kubectl`` points at (see the module docstring)."""

    def __init__(
        self,
        kubectl: Kubectl,
        images: Images,
        ready_timeout_s: float = 120,
        keep: bool = False,
    ) -> None:
        self.kubectl = kubectl
        self.images = images
        self.ready_timeout_s = ready_timeout_s
        self.keep = keep
        self.run_id = ""
        self.namespaces: list[str] = []  # made by this run: deleted at cleanup
        self._started: list[str] = []  # namespace/pod
        self._containers: dict[str, str] = {}  # namespace/pod -> the victim container
        self.not_removed: list[str] = []  # cleanup failures, for the caller to report
        self.cluster_scoped = False  # real control-plane actions: bindings to delete by label

    @property
    def started(self) -> list[str]:
        return self._started

    def prepare(self, run_id: str, scenarios: Sequence[Scenario]) -> None:
        self.run_id = run_id
        wanted = sorted({SIM_NAMESPACE} | {s.namespace for s in scenarios if s.needs_container})
        got = self.kubectl.run("get", "namespace", *wanted, "--ignore-not-found", "-o", "name")
        if got.returncode != 0:
            why = "not allowed" if "forbidden" in got.stderr.lower() else "cannot reach the cluster"
            raise SetupError(f"{why} (kubectl get namespace): {_tail(got.stderr, 3)}")
        left = [line.removeprefix("namespace/") for line in got.stdout.split()]
        if left:
            names = " ".join(left)
            raise SetupError(
                f"namespace {names} exists (an earlier run, or --keep): "
                f"kubectl delete namespace {names}"
            )
        self.cluster_scoped = any(
            isinstance(step, ClusterActions) for s in scenarios for step in s.steps
        )
        docs = [d for ns in wanted for d in namespace_docs(ns, run_id)]
        self.namespaces = wanted  # before apply: a half-applied set is removed too
        self._apply(docs)

    def _apply(
        self, docs: Sequence[dict[str, object]], error: type[SimulationError] = SetupError
    ) -> None:
        done = self.kubectl.run("apply", "-f", "-", stdin=to_yaml(docs))
        if done.returncode != 0:
            raise error(f"kubectl apply: {_tail(done.stderr, 5)}")

    def start(self, sc: Scenario, pod: str) -> Started:
        ns = sc.namespace
        self._apply(
            [victim_pod(pod, ns, self.run_id, self.images.victim, self.images.attacker,
                        container=sc.container, labels=sc.labels)]
        )  # fmt: skip
        self._started.append(f"{ns}/{pod}")
        self._containers[f"{ns}/{pod}"] = sc.container
        self._wait_ready(ns, pod)
        cid = self.kubectl.run(
            "get", "pod", pod, "-n", ns, "-o",
            f"jsonpath={{.status.containerStatuses[?(@.name==\"{sc.container}\")].containerID}}",
        ).stdout.strip()  # fmt: skip
        return Started(f"{ns}/{pod}", cid.split("://", 1)[-1] or None)

    def _wait_ready(self, ns: str, pod: str) -> None:
        """``kubectl wait`` in slices of ``WAIT_SLICE_S``: between them the containers' states
        are read, so a pod that can never start (image not on the node, a failed copy) stops
        the run at once instead of at the end of ``ready_timeout_s``."""
        start = time.monotonic()
        while True:
            left = self.ready_timeout_s - (time.monotonic() - start)
            step = max(1.0, min(WAIT_SLICE_S, left))
            ready = self.kubectl.run(
                "wait", "-n", ns, "--for=condition=Ready", f"pod/{pod}", f"--timeout={step:.0f}s",
                timeout=step + 30,
            )  # fmt: skip
            if ready.returncode == 0:
                return
            reasons = self._reasons(ns, pod)
            spent = time.monotonic() - start
            if FATAL.intersection(reasons) or spent >= self.ready_timeout_s:
                raise SetupError(self._not_ready(ns, pod, ready.stderr, reasons, spent))

    def _reasons(self, ns: str, pod: str) -> list[str]:
        """Why the pod's containers are not running (waiting or terminated reasons)."""
        states = "{.state.waiting.reason} {.state.terminated.reason} "
        got = self.kubectl.run(
            "get", "pod", pod, "-n", ns, "-o",
            f"jsonpath={{range .status.initContainerStatuses[*]}}{states}{{end}}"
            f"{{range .status.containerStatuses[*]}}{states}{{end}}",
        )  # fmt: skip
        return [r for r in got.stdout.split() if r != "Completed"]

    def _not_ready(self, ns: str, pod: str, why: str, reasons: Sequence[str], spent: float) -> str:
        """What ``kubectl wait`` said, the containers' reasons (ErrImageNeverPull,
        ImagePullBackOff ...) and the tail of ``kubectl describe`` (its events)."""
        described = self.kubectl.run("describe", "pod", pod, "-n", ns)
        msg = (
            f"pod {ns}/{pod} not Ready after {spent:.0f}s "
            f"(--ready-timeout {self.ready_timeout_s:.0f}): {why.strip()}"
        )
        if reasons:
            msg += f"\nwaiting: {', '.join(sorted(set(reasons)))}"
        if any("Pull" in r for r in reasons):
            msg += (
                f"\nthe nodes do not have {self.images.victim} / {self.images.attacker}: load "
                "them (kind load docker-image, k3s ctr images import) or push them and pass "
                "--image-prefix"
            )
        if described.stdout.strip():
            msg += f"\nkubectl describe pod (tail):\n{_tail(described.stdout)}"
        return msg

    def exec(self, victim: Started, step: Exec) -> None:
        ns, pod = victim.ref.split("/", 1)
        container = self._containers[victim.ref]
        argv = as_user(step.user, step.argv)
        if step.tty:
            run_with_tty(
                self.kubectl.argv("exec", "-i", "-t", "-n", ns, pod, "-c", container, "--", *argv),
                step.typed,
            )
            return
        done = self.kubectl.run("exec", "-n", ns, pod, "-c", container, "--", *argv, timeout=120)
        if done.returncode != 0 and REMOTE_EXIT not in done.stderr:
            raise SimulationError(f"kubectl exec {ns}/{pod}: {_tail(done.stderr, 3)}")

    def cluster_actions(self, victim: Started, sc: Scenario) -> set[tuple[str, str]]:
        """S9 for real (see ``ClusterActions``). The binding is deleted as soon as the exec is
        done (and by label at cleanup); the privileged pod goes with the namespace."""
        ns, pod = victim.ref.split("/", 1)
        priv = f"mamori-sim-priv-{self.run_id}"
        binding = f"mamori-sim-admin-{self.run_id}"
        # Refused by Pod Security admission is fine: the request is in the audit log.
        docs = to_yaml([privileged_pod(priv, ns, self.run_id, self.images.victim)])
        made = self.kubectl.run("apply", "-f", "-", stdin=docs)
        if made.returncode != 0 and "violates PodSecurity" not in made.stderr:
            raise SimulationError(f"kubectl apply: {_tail(made.stderr, 3)}")
        try:
            self._apply([cluster_admin_binding(binding, ns, self.run_id)], SimulationError)
            self._checked("exec", "-n", ns, pod, "-c", self._containers[victim.ref], "--", "true")
        finally:
            self.kubectl.run("delete", "clusterrolebinding", binding, "--ignore-not-found")
        self._checked("delete", "events", "--all", "-n", ns)
        return {
            ("pods", priv),
            ("clusterrolebindings", binding),
            ("pods", pod),  # pods/exec
            ("events", "*"),
        }

    def _checked(self, *args: str) -> None:
        done = self.kubectl.run(*args)
        if done.returncode != 0:
            raise SimulationError(f"kubectl {args[0]}: {_tail(done.stderr, 3)}")

    def cleanup(self) -> None:
        """Delete the run's namespaces (their pods, ServiceAccounts, policies go with them);
        what could not be deleted is kept in ``not_removed`` for the caller to report."""
        if self.keep:
            return
        if self.cluster_scoped:
            label = f"{SIM_LABEL}={self.run_id}"
            try:
                done = self.kubectl.run(
                    "delete", "clusterrolebinding", "-l", label, "--ignore-not-found"
                )
                if done.returncode != 0:
                    self.not_removed.append(f"clusterrolebinding -l {label}: {done.stderr}")
            except SimulationError as exc:
                self.not_removed.append(f"clusterrolebinding -l {label}: {exc}")
        for ns in reversed(self.namespaces):
            try:
                done = self.kubectl.run(
                    "delete", "namespace", ns, "--wait=false", "--ignore-not-found"
                )
            except SimulationError as exc:
                self.not_removed.append(f"namespace {ns}: {exc}")
                continue
            if done.returncode != 0:
                self.not_removed.append(f"namespace {ns}: {_tail(done.stderr, 2)}")
        self.namespaces = []
