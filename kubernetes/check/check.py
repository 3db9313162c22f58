"""Checks of our own over rendered Kubernetes manifests: what kubernetes-validate's schemas
do not catch (scripts/check-manifests runs them; docs/deploy.md, "Checks").

    check.py own FILE...           every check over each rendered file
    check.py self-test DIR BINDIR  each bad manifest in DIR fails the check its first line names
    check.py binaries BINDIR FILE...  every xlpipeline/xlserver command line against the binary
    check.py metrics METRICS_RS FILE...  every series the alerts and dashboards name exists

Each check is one function `check_<name>(docs) -> [message]`, listed in CHECKS; a message
names the object and the bad value.
"""

import base64
import contextlib
import functools
import io
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zoneinfo

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
JOBS = ("Job", "CronJob")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$")
STORE_LABEL = ("app.kubernetes.io/component", "store")
STORE_URL = re.compile(r"redis://([a-z0-9.-]+)")


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_template(doc):
    """The pod template (metadata + spec) of a workload, or None."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return {"metadata": doc.get("metadata", {}), "spec": spec}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if kind in WORKLOADS:
        return spec.get("template")
    return None


def job_spec(doc):
    if doc.get("kind") == "Job":
        return doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        return ((doc.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
    return None


def containers(pod_spec, init=True):
    out = [(c, False) for c in pod_spec.get("containers") or []]
    if init:
        out += [(c, True) for c in pod_spec.get("initContainers") or []]
    return out


def labels_match(selector, labels):
    """A label selector (matchLabels/matchExpressions) against a set of labels."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def template_labels(docs):
    for d in docs:
        t = pod_template(d)
        if t is not None:
            yield d, (t.get("metadata") or {}).get("labels") or {}


# --- the checks -----------------------------------------------------------------------------


def check_dns_names(docs):
    """Object names DNS-1123 (Services DNS-1035, CronJobs ≤ 52), container, volume and port
    names as the API wants them."""
    errs = []
    for d in docs:
        n = (d.get("metadata") or {}).get("name") or ""
        kind = d.get("kind")
        if kind in ("Service", "Namespace"):
            ok = DNS_1035.match(n) and len(n) <= 63
        else:
            ok = DNS_SUBDOMAIN.match(n) and len(n) <= 253
        if not ok:
            errs.append(f"{name_of(d)}: name {n!r} is not a DNS-1123 name")
        if kind == "CronJob" and len(n) > 52:
            errs.append(f"{name_of(d)}: a CronJob's name is at most 52 characters ({len(n)})")
        t = pod_template(d)
        if t is None:
            continue
        spec = t.get("spec") or {}
        for c, _ in containers(spec):
            if not DNS_LABEL.match(c.get("name", "")) or len(c.get("name", "")) > 63:
                errs.append(f"{name_of(d)}: container name {c.get('name')!r} is not a DNS-1123 label")
            for p in c.get("ports") or []:
                pn = p.get("name")
                if pn is not None and not (
                    PORT_NAME.match(pn) and len(pn) <= 15 and re.search("[a-z]", pn)
                ):
                    errs.append(f"{name_of(d)}: port name {pn!r} is not an IANA service name")
        for v in spec.get("volumes") or []:
            if not DNS_LABEL.match(v.get("name", "")):
                errs.append(f"{name_of(d)}: volume name {v.get('name')!r} is not a DNS-1123 label")
    return errs


def check_selectors(docs):
    """Workload selectors match their template's labels; Services, PodDisruptionBudgets and
    NetworkPolicies select some pod; a StatefulSet's serviceName is a headless Service."""
    errs = []
    pods = list(template_labels(docs))
    services = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Service"}
    for d in docs:
        kind = d.get("kind")
        spec = d.get("spec") or {}
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not labels_match(spec.get("selector"), labels) or not spec.get("selector"):
                errs.append(f"{name_of(d)}: selector {spec.get('selector')} does not match the template's labels {labels}")
            if kind == "StatefulSet":
                svc = services.get(spec.get("serviceName"))
                if svc is None:
                    errs.append(f"{name_of(d)}: serviceName {spec.get('serviceName')!r} is not a Service here")
                elif (svc.get("spec") or {}).get("clusterIP") != "None":
                    errs.append(f"{name_of(d)}: its Service {spec.get('serviceName')!r} is not headless")
        if not pods:
            continue
        if kind == "Service" and (spec.get("selector")):
            sel = {"matchLabels": spec["selector"]}
            if not any(labels_match(sel, l) for _, l in pods):
                errs.append(f"{name_of(d)}: selector {spec['selector']} matches no pod")
        if kind == "PodDisruptionBudget":
            if not any(labels_match(spec.get("selector"), l) for _, l in pods):
                errs.append(f"{name_of(d)}: selector {spec.get('selector')} matches no pod")
        if kind == "NetworkPolicy":
            sel = spec.get("podSelector")
            if sel and not any(labels_match(sel, l) for _, l in pods):
                errs.append(f"{name_of(d)}: podSelector {sel} matches no pod")
    return errs


def shard_count(args):
    for a in args or []:
        m = re.match(r"^--shard[= ](.+)/(.+)$", a)
        if m:
            return m.group(2)
    return None


def check_jobs(docs):
    """Jobs' restartPolicy Never or OnFailure (Never with a podFailurePolicy); per-index limits
    only on Indexed Jobs; an Indexed Job's completions equal the N of its --shard i/N."""
    errs = []
    params = configmaps(docs)
    for d in docs:
        js = job_spec(d)
        if js is None:
            continue
        t = js.get("template") or {}
        spec = t.get("spec") or {}
        rp = spec.get("restartPolicy")
        if rp not in ("Never", "OnFailure"):
            errs.append(f"{name_of(d)}: restartPolicy {rp!r} (a Job's pods need Never or OnFailure)")
        if js.get("podFailurePolicy") and rp != "Never":
            errs.append(f"{name_of(d)}: podFailurePolicy needs restartPolicy Never, not {rp!r}")
        indexed = js.get("completionMode") == "Indexed"
        for f in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if f in js and not indexed:
                errs.append(f"{name_of(d)}: {f} needs completionMode Indexed")
        if js.get("completionMode") not in (None, "Indexed", "NonIndexed"):
            errs.append(f"{name_of(d)}: completionMode {js.get('completionMode')!r}")
        names = {c["name"] for c, _ in containers(spec)}
        for r in (js.get("podFailurePolicy") or {}).get("rules") or []:
            cn = (r.get("onExitCodes") or {}).get("containerName")
            if cn is not None and cn not in names:
                errs.append(f"{name_of(d)}: podFailurePolicy names container {cn!r}, not in the pod")
        if not indexed:
            continue
        completions = js.get("completions")
        if (js.get("parallelism") or 0) > (completions or 0):
            errs.append(f"{name_of(d)}: parallelism {js.get('parallelism')} above completions {completions}")
        for c, _ in containers(spec):
            n = shard_count(c.get("args"))
            if n is None:
                continue
            n = expand(n, resolve_env(c, params, index=0))
            if str(completions) != n:
                errs.append(f"{name_of(d)}: completions {completions} but container {c['name']} runs --shard .../{n}")
    return errs


CRON_FIELDS = [(0, 59, {}), (0, 23, {}), (1, 31, {}),
               (1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
               (0, 7, {w: i for i, w in enumerate("sun mon tue wed thu fri sat".split())})]
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def cron_error(schedule):
    s = schedule.strip()
    if s in CRON_MACROS:
        return None
    if "TZ=" in s:
        return "TZ= in the schedule (use spec.timeZone)"
    fields = s.split()
    if len(fields) != 5:
        return f"{len(fields)} fields, not 5"
    for f, (lo, hi, names) in zip(fields, CRON_FIELDS):
        for part in f.split(","):
            rng, _, step = part.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"step {step!r}"
            if rng in ("*", "?"):
                continue
            ends = rng.split("-")
            if len(ends) > 2:
                return f"range {rng!r}"
            vals = []
            for e in ends:
                v = names.get(e.lower()) if e.lower() in names else (int(e) if e.isdigit() else None)
                if v is None or not lo <= v <= hi:
                    return f"{e!r} is not in {lo}-{hi}"
                vals.append(v)
            if len(vals) == 2 and vals[0] > vals[1]:
                return f"range {rng!r} runs backwards"
    return None


def zone_exists(tz):
    """An IANA zone, from the system's zoneinfo or PyPI's tzdata (in the venv)."""
    try:
        zoneinfo.ZoneInfo(tz)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


def check_cron(docs):
    """CronJob schedules in cron syntax; time zones that exist."""
    errs = []
    for d in docs:
        if d.get("kind") != "CronJob":
            continue
        spec = d.get("spec") or {}
        e = cron_error(str(spec.get("schedule", "")))
        if e:
            errs.append(f"{name_of(d)}: schedule {spec.get('schedule')!r}: {e}")
        tz = spec.get("timeZone")
        if tz is not None and not zone_exists(tz):
            errs.append(f"{name_of(d)}: timeZone {tz!r} is not a zone")
    return errs


def quantity_value(q):
    m = QUANTITY.match(str(q))
    if not m:
        return None
    n, suf = float(m.group(1)), m.group(2) or ""
    mult = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    if suf[:1] in ("e", "E") and suf not in mult:
        return n * 10 ** int(suf[1:])
    return n * mult[suf]


def check_quantities(docs):
    """Resource quantities parse (no `1GB`, `500mi`); requests at most limits; storage sizes."""
    errs = []
    for d in docs:
        t = pod_template(d)
        if t is not None:
            for c, _ in containers(t.get("spec") or {}):
                res = c.get("resources") or {}
                req, lim = res.get("requests") or {}, res.get("limits") or {}
                for where, m in (("requests", req), ("limits", lim)):
                    for k, v in m.items():
                        if quantity_value(v) is None:
                            errs.append(f"{name_of(d)}: container {c['name']} {where}.{k} {v!r} is not a quantity")
                for k in req:
                    a, b = quantity_value(req[k]), quantity_value(lim.get(k, req[k]))
                    if a is not None and b is not None and a > b:
                        errs.append(f"{name_of(d)}: container {c['name']} requests {k} {req[k]} above its limit {lim[k]}")
            for v in (t.get("spec") or {}).get("volumes") or []:
                sl = (v.get("emptyDir") or {}).get("sizeLimit")
                if sl is not None and quantity_value(sl) is None:
                    errs.append(f"{name_of(d)}: emptyDir {v['name']} sizeLimit {sl!r} is not a quantity")
        claims = []
        if d.get("kind") == "PersistentVolumeClaim":
            claims.append(d.get("spec") or {})
        claims += [(c.get("spec") or {}) for c in (d.get("spec") or {}).get("volumeClaimTemplates") or []]
        for s in claims:
            st = ((s.get("resources") or {}).get("requests") or {}).get("storage")
            if quantity_value(st) is None:
                errs.append(f"{name_of(d)}: storage {st!r} is not a quantity")
    return errs


def find_key(obj, key, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield f"{path}.{k}"
            yield from find_key(v, key, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from find_key(v, key, f"{path}[{i}]")


def check_no_glusterfs(docs):
    """No in-tree `glusterfs:` volume (removed in Kubernetes 1.26; the schemas still take it)."""
    errs = []
    for d in docs:
        for p in find_key(d.get("spec") or {}, "glusterfs", "spec"):
            errs.append(f"{name_of(d)}: {p} is the in-tree GlusterFS plugin, removed in 1.26 (use a FUSE mount as hostPath)")
    return errs


def check_containers(docs):
    """Every container: requests (cpu, memory) and a memory limit; a restricted security
    context (non-root, no privilege escalation, read-only root, capabilities dropped, seccomp
    RuntimeDefault) and a writable /tmp; readiness and liveness probes outside Jobs."""
    errs = []
    for d in docs:
        t = pod_template(d)
        if t is None:
            continue
        spec = t.get("spec") or {}
        psc = spec.get("securityContext") or {}
        for c, init in containers(spec):
            who = f"{name_of(d)}: container {c.get('name')}"
            sc = c.get("securityContext") or {}
            res = c.get("resources") or {}
            for k in ("cpu", "memory"):
                if k not in (res.get("requests") or {}):
                    errs.append(f"{who} has no {k} request")
            if "memory" not in (res.get("limits") or {}):
                errs.append(f"{who} has no memory limit")
            if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                errs.append(f"{who} may run as root (runAsNonRoot)")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if uid is None or uid == 0:
                errs.append(f"{who}: runAsUser {uid!r}")
            if sc.get("allowPrivilegeEscalation") is not False:
                errs.append(f"{who}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                errs.append(f"{who} is privileged")
            if sc.get("readOnlyRootFilesystem") is not True:
                errs.append(f"{who}: readOnlyRootFilesystem is not true")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                errs.append(f"{who} does not drop ALL capabilities")
            if (sc.get("capabilities") or {}).get("add"):
                errs.append(f"{who} adds capabilities {sc['capabilities']['add']}")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                errs.append(f"{who}: seccompProfile {seccomp!r}, not RuntimeDefault")
            if not any(m.get("mountPath") == "/tmp" for m in c.get("volumeMounts") or []):
                errs.append(f"{who} has no volume at /tmp (its root filesystem is read-only)")
            if d.get("kind") not in JOBS and not init:
                for p in ("readinessProbe", "livenessProbe"):
                    if p not in c:
                        errs.append(f"{who} has no {p}")
    return errs


def check_images(docs):
    """Images pinned: a tag (not `latest`) or a digest."""
    errs = []
    for d in docs:
        t = pod_template(d)
        if t is None:
            continue
        for c, _ in containers(t.get("spec") or {}):
            img = c.get("image") or ""
            last = img.rsplit("/", 1)[-1]
            if "@sha256:" in img:
                continue
            if ":" not in last:
                errs.append(f"{name_of(d)}: container {c.get('name')} image {img!r} has no tag")
            elif last.split(":", 1)[1] == "latest":
                errs.append(f"{name_of(d)}: container {c.get('name')} image {img!r} is unpinned (latest)")
    return errs


def check_network_policy(docs):
    """Every store pod is selected by a NetworkPolicy for Ingress that admits only selected
    pods (no rule open to all, no ipBlock or namespaceSelector), and every pod that names a
    store URL is one of them."""
    errs = []
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    params = configmaps(docs)
    pods = list(template_labels(docs))
    stores = [(d, l) for d, l in pods if l.get(STORE_LABEL[0]) == STORE_LABEL[1]]
    if not stores:
        return errs
    peers = []
    for d, labels in stores:
        covering = [p for p in policies
                    if labels_match((p.get("spec") or {}).get("podSelector"), labels)
                    and "Ingress" in ((p.get("spec") or {}).get("policyTypes") or ["Ingress"])]
        if not covering:
            errs.append(f"{name_of(d)}: a store that no NetworkPolicy covers")
        for p in covering:
            for rule in (p.get("spec") or {}).get("ingress") or []:
                if not rule.get("from"):
                    errs.append(f"{name_of(p)}: a rule open to every pod on store {name_of(d)}")
                for peer in rule.get("from") or []:
                    if "ipBlock" in peer or "namespaceSelector" in peer or not peer.get("podSelector"):
                        errs.append(f"{name_of(p)}: peer {peer} is wider than the store's clients")
                    else:
                        peers.append(peer["podSelector"])
    store_names = {(d.get("metadata") or {}).get("name") for d, _ in stores}
    for d, labels in pods:
        t = pod_template(d)
        for c, _ in containers(t.get("spec") or {}):
            env = resolve_env(c, params, index=0)
            text = " ".join(expand(a, env) for a in (c.get("args") or []) + list(env.values()))
            named = {m.split(".")[0] for m in STORE_URL.findall(text)}
            if named & store_names and not any(labels_match(p, labels) for p in peers):
                errs.append(f"{name_of(d)}: container {c['name']} names store {sorted(named & store_names)} but no NetworkPolicy admits it")
    return errs


def check_store_port(docs):
    """SSDB configurations listen on xlfeed-params' store_port (the Services' port)."""
    errs = []
    port = (configmaps(docs).get("xlfeed-params") or {}).get("store_port")
    if port is None:
        return errs
    for d in docs:
        if d.get("kind") != "ConfigMap":
            continue
        for k, v in (d.get("data") or {}).items():
            if not k.endswith(".conf"):
                continue
            for m in re.finditer(r"^\t+port:\s*(\S+)", v, re.M):
                if m.group(1) != port:
                    errs.append(f"{name_of(d)}: {k} has port {m.group(1)}, store_port is {port}")
    return errs


IQFEED_RATE_LIMIT = 50


def check_rate_limit(docs):
    """The shards' fetches together stay within IQConnect's 50 history requests a second:
    xlfeed-params' rate_limit (each shard's --rate-limit) times shards."""
    params = configmaps(docs).get("xlfeed-params") or {}
    if "shards" not in params or "rate_limit" not in params:
        return []
    try:
        shards, rate = int(params["shards"]), float(params["rate_limit"])
    except ValueError:
        return [f"ConfigMap/xlfeed-params: shards {params['shards']!r} or rate_limit {params['rate_limit']!r} is not a number"]
    if rate <= 0 or shards * rate > IQFEED_RATE_LIMIT:
        return [f"ConfigMap/xlfeed-params: rate_limit {params['rate_limit']} × shards {shards} is not within "
                f"IQConnect's {IQFEED_RATE_LIMIT} requests a second"]
    return []


PODMAN_KINDS = ("Pod", "Deployment", "PersistentVolumeClaim", "ConfigMap")
PODMAN_VOLUMES = ("hostPath", "emptyDir", "persistentVolumeClaim", "configMap")


def check_podman(docs):
    """A render for podman (it uses podman's volume.podman.io annotations) holds only the kinds
    `podman kube play` 4.3 runs, and only the volume types it mounts."""
    errs = []
    if not any(k.startswith("volume.podman.io/")
               for d in docs for k in ((d.get("metadata") or {}).get("annotations") or {})):
        return errs
    for d in docs:
        if d.get("kind") not in PODMAN_KINDS:
            errs.append(f"{name_of(d)}: podman kube play does not run a {d.get('kind')}")
        t = pod_template(d)
        for v in ((t or {}).get("spec") or {}).get("volumes") or []:
            kinds = [k for k in v if k != "name"]
            if not set(kinds) <= set(PODMAN_VOLUMES):
                errs.append(f"{name_of(d)}: volume {v['name']} is a {kinds}, which podman kube play does not mount")
    return errs


CHECKS = {
    "dns-names": check_dns_names,
    "selectors": check_selectors,
    "jobs": check_jobs,
    "cron": check_cron,
    "quantities": check_quantities,
    "no-glusterfs": check_no_glusterfs,
    "containers": check_containers,
    "images": check_images,
    "network-policy": check_network_policy,
    "store-port": check_store_port,
    "rate-limit": check_rate_limit,
    "podman": check_podman,
}


# --- env, as Kubernetes gives it to a container ------------------------------------------------


def configmaps(docs):
    """ConfigMaps by name, also under their name without kustomize's hash suffix."""
    out = {}
    for d in docs:
        if d.get("kind") == "ConfigMap":
            n = d["metadata"]["name"]
            out[n] = d.get("data") or {}
            out.setdefault(re.sub(r"-[a-z0-9]{10}$", "", n), d.get("data") or {})
    return out


def expand(s, env):
    """Kubernetes' $(VAR) expansion: known names replaced, $$ escapes, others left as they are."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, str(s))


def resolve_env(c, cms, index):
    env = {"JOB_COMPLETION_INDEX": str(index)}
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = expand(e["value"], env)
        else:
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("key") in (cms.get(ref.get("name")) or {}):
                env[e["name"]] = cms[ref["name"]][ref["key"]]
    return env


# --- the binaries -----------------------------------------------------------------------------


@functools.cache
def has_check_flag(binary, sub):
    r = subprocess.run([binary, sub, "--help"], capture_output=True, text=True)
    return "--check" in r.stdout


def materialise(pod_spec, c, docs, root):
    """Writes the container's ConfigMap and Secret volumes under root, makes its other volumes
    folders there; answers the mount paths, longest first."""
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs if d.get("kind") in ("ConfigMap", "Secret")}
    vols = {v["name"]: v for v in pod_spec.get("volumes") or []}
    mounts = []
    for m in c.get("volumeMounts") or []:
        path = root + m["mountPath"]
        os.makedirs(path, exist_ok=True)
        v = vols.get(m["name"]) or {}
        if "configMap" in v:
            data = (by_name.get(("ConfigMap", v["configMap"]["name"])) or {}).get("data") or {}
        elif "secret" in v:
            raw = (by_name.get(("Secret", v["secret"]["secretName"])) or {}).get("data") or {}
            data = {k: base64.b64decode(x).decode() for k, x in raw.items()}
        else:
            data = {}
        for k, text in data.items():
            with open(os.path.join(path, k), "w") as f:
                f.write(text)
        mounts.append(m["mountPath"])
    return sorted(mounts, key=len, reverse=True)


def rebase(value, mounts, root):
    """A path (or `--flag=path`) inside one of the mounts, moved under root."""
    flag, sep, path = value.rpartition("=") if value.startswith("--") else ("", "", value)
    for m in mounts:
        if path == m or path.startswith(m.rstrip("/") + "/"):
            return flag + sep + root + path
    return value


def toml_overrides(toml_text, mounts, root):
    """XLFEED_SECTION__KEY overrides moving the TOML's paths inside mounts under root."""
    out = {}
    for section, table in tomllib.loads(toml_text).items():
        if not isinstance(table, dict):
            continue
        for k, v in table.items():
            if isinstance(v, str) and rebase(v, mounts, root) != v:
                out[f"XLFEED_{section.upper()}__{k.upper()}"] = rebase(v, mounts, root)
    return out


def run_binaries(docs, bindir):
    failures, ran, skipped = 0, 0, set()
    cms = configmaps(docs)
    for d in docs:
        t = pod_template(d)
        if t is None:
            continue
        spec = t.get("spec") or {}
        for c, _ in containers(spec):
            cmd = (c.get("command") or [])[:1]
            prog = os.path.basename(cmd[0]) if cmd else ""
            if prog not in ("xlpipeline", "xlserver"):
                continue
            binary = os.path.abspath(os.path.join(bindir, prog))
            env_k8s = resolve_env(c, cms, index=0)
            args = [expand(a, env_k8s) for a in c.get("args") or []]
            if not args:
                continue
            with tempfile.TemporaryDirectory() as root:
                mounts = materialise(spec, c, docs, root)
                args = [rebase(a, mounts, root) for a in args]
                env = {k: v for k, v in os.environ.items() if not k.startswith("XLFEED_")}
                env.update(env_k8s)
                env["RUST_BACKTRACE"] = "0"
                who = f"{name_of(d)}/{c['name']}"
                config = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
                if prog == "xlserver" and config:
                    with open(config) as f:
                        env.update(toml_overrides(f.read(), mounts, root))
                    r = subprocess.run([binary, "config", "check", "--config", config],
                                       capture_output=True, text=True, env=env, cwd=root)
                    ran += 1
                    if r.returncode != 0:
                        failures += 1
                        print(f"FAIL {who}: xlserver config check: {(r.stderr or r.stdout).strip().splitlines()[0]}")
                if not has_check_flag(binary, args[0]):
                    skipped.add(f"{prog} {args[0]}")
                    continue
                r = subprocess.run([binary] + args + ["--check"], capture_output=True, text=True,
                                   env=env, cwd=root)
                ran += 1
                if r.returncode != 0:
                    failures += 1
                    msg = (r.stderr or r.stdout).strip().splitlines()
                    print(f"FAIL {who}: {prog} {' '.join(args)} --check: exit {r.returncode}: {msg[0] if msg else ''}")
                elif os.environ.get("CHECK_VERBOSE"):
                    print(f"ok   {who}: {r.stdout.strip()}")
    for s in sorted(skipped):
        print(f"skipped: `{s} --check` (this build's --help does not list --check yet)")
    return ran, failures


# --- metric names ---------------------------------------------------------------------------

# kube-state-metrics (v2) series the rules and the dashboard use: the runs and the stores.
KUBE_STATE_METRICS = {
    "kube_job_failed", "kube_job_status_active", "kube_job_status_failed",
    "kube_job_status_succeeded", "kube_job_status_start_time", "kube_job_status_completion_time",
    "kube_cronjob_status_last_successful_time", "kube_statefulset_replicas",
    "kube_statefulset_status_replicas_ready", "kube_deployment_status_replicas_available",
}
OTHER_METRICS = {"probe_ssl_earliest_cert_expiry"}


def xlserver_metrics(metrics_rs):
    """The series xlserver exposes, from server/src/metrics.rs (the one place they are
    registered): counters get _total, histograms _bucket/_sum/_count."""
    src = open(metrics_rs).read()
    types = dict(re.findall(r"pub (\w+): (?:Family<\w+, )?(Counter|Gauge|Histogram)", src))
    names = set()
    for name, field in re.findall(r'register\(\s*"(\w+)",\s*"[^"]*",\s*(\w+)\.clone\(\)', src):
        kind = types.get(field)
        if kind == "Counter":
            names.add(f"xlserver_{name}_total")
        elif kind == "Histogram":
            names |= {f"xlserver_{name}_{s}" for s in ("bucket", "sum", "count")}
        elif kind == "Gauge":
            names.add(f"xlserver_{name}")
    return names


def check_metric_names(paths, metrics_rs):
    """Every series an alert rule or a dashboard panel names exists."""
    known = xlserver_metrics(metrics_rs) | KUBE_STATE_METRICS | OTHER_METRICS
    errs = []
    for p in paths:
        text = open(p).read()
        for m in sorted(set(re.findall(r"\b((?:xlserver|kube|probe)_[a-z_]+)\b", text))):
            if m not in known:
                errs.append(f"{os.path.basename(p)}: series {m} is not exposed (server/src/metrics.rs, kube-state-metrics)")
    return errs


# --- entry points -----------------------------------------------------------------------------


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def own(paths, only=None):
    errs = 0
    for p in paths:
        docs = load(p)
        for name, fn in CHECKS.items():
            if only and name != only:
                continue
            for e in fn(docs):
                print(f"{os.path.basename(p)}: [{name}] {e}")
                errs += 1
    return errs


def self_test(folder, bindir):
    """Each file in folder names on its first line (`# expect: NAME`) the check it must fail
    (`binaries`: the binaries must refuse one of its command lines); every check must have
    one."""
    failed, seen = 0, set()
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".yaml"):
            continue
        path = os.path.join(folder, f)
        with open(path) as fh:
            m = re.match(r"# expect: (\S+)", fh.readline())
        if not m or m.group(1) not in list(CHECKS) + ["binaries"]:
            print(f"FAIL {f}: its first line must be `# expect: CHECK`, CHECK one of {list(CHECKS)} or binaries")
            failed += 1
            continue
        seen.add(m.group(1))
        if m.group(1) == "binaries":
            if not all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("xlpipeline", "xlserver")):
                print(f"skip {f}: no xlpipeline and xlserver in {bindir}")
                continue
            with contextlib.redirect_stdout(io.StringIO()) as out:
                ran, refused = run_binaries(load(path), bindir)
            if ran == 0:
                print(f"skip {f}: {out.getvalue().strip()}")
            elif not refused:
                print(f"FAIL {f}: the binaries accepted it")
                failed += 1
            else:
                print(f"ok   {f}: {out.getvalue().strip().splitlines()[0].removeprefix('FAIL ')}")
            continue
        errs = CHECKS[m.group(1)](load(path))
        if not errs:
            print(f"FAIL {f}: check {m.group(1)} accepted it")
            failed += 1
        else:
            print(f"ok   {f}: {errs[0]}")
    for name in list(CHECKS) + ["binaries"]:
        if name not in seen:
            print(f"FAIL check {name} has no bad manifest in {folder}")
            failed += 1
    return failed


def main(argv):
    if len(argv) >= 2 and argv[0] == "own":
        return 1 if own(argv[1:]) else 0
    if len(argv) == 3 and argv[0] == "self-test":
        return 1 if self_test(argv[1], argv[2]) else 0
    if len(argv) >= 3 and argv[0] == "binaries":
        total = 0
        for path in argv[2:]:
            ran, failures = run_binaries(load(path), argv[1])
            print(f"{os.path.basename(path)}: {ran} command lines checked, {failures} refused")
            total += failures
        return 1 if total else 0
    if len(argv) >= 3 and argv[0] == "metrics":
        errs = check_metric_names(argv[2:], argv[1])
        for e in errs:
            print(e)
        return 1 if errs else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
