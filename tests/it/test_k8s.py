"""deploy/k8s/ (issue 22): every manifest validates against the Kubernetes JSON schemas that
kubernetes-validate ships (strict: an unknown field fails), and the manifests fit shiftlog:
one service and one config per Deployment, one task per applier Deployment, liveness on
/health and readiness on /ready of the port http.listen names, Prometheus scrape annotations,
passwords from the Secret as files, and every config accepted by the service's own --check.
No server is needed.
"""

import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
K8S_VERSION = "1.37.0"


def manifests():
    docs = []
    for f in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                docs.append((f.name, d))
    return docs


def by_kind(kind):
    return [d for _, d in manifests() if d["kind"] == kind]


def conf_lines(text):
    """key = value lines of a shiftlog config, as a dict."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


@pytest.mark.parametrize("name,doc", manifests(), ids=lambda x: x if isinstance(x, str) else "")
def test_manifest_validates_against_the_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_bad_manifest():
    """The check can fail: a misspelt probe field and a string replica count are refused."""
    dep = by_kind("Deployment")[0]
    bad = yaml.safe_load(yaml.safe_dump(dep))
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = yaml.safe_load(yaml.safe_dump(dep))
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_deployments_fit_shiftlog(bin_dir, tmp_path):
    (cm,) = by_kind("ConfigMap")
    (secret,) = by_kind("Secret")
    deps = by_kind("Deployment")
    services = {d["spec"]["template"]["spec"]["containers"][0]["command"][0] for d in deps}
    assert services == {"shiftlog-collector", "shiftlog-miner", "shiftlog-applier"}, services
    tasks = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
    for d in deps:
        pod = d["spec"]["template"]
        (c,) = pod["spec"]["containers"]
        cmd = c["command"]
        assert cmd[1] == "-c" and cmd[2].startswith("/etc/shiftlog/"), cmd
        key = cmd[2].rsplit("/", 1)[1]
        assert key in cm["data"], f"{d['metadata']['name']}: no {key} in the ConfigMap"
        conf = conf_lines(cm["data"][key])
        # probes and scraping on the port http.listen names
        port = int(conf["http.listen"].rsplit(":", 1)[1])
        assert conf["http.listen"].startswith(":") or conf["http.listen"].startswith("0.0.0.0")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
        for probe in ("livenessProbe", "readinessProbe"):
            assert ports[c[probe]["httpGet"]["port"]] == port
        ann = pod["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == port
        assert ann["prometheus.io/path"] == "/metrics"
        # the config is the one mounted, and passwords are files of the Secret
        vols = {v["name"]: v for v in pod["spec"]["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        cfg_vol = vols[mounts["/etc/shiftlog"]]["configMap"]
        assert cfg_vol["name"] == cm["metadata"]["name"]
        assert [i["key"] for i in cfg_vol["items"]] == [key]
        text = cm["data"][key]
        for k, v in conf.items():
            assert "password" not in k or k.endswith(".file"), f"{key}: {k} in the ConfigMap"
            if k.endswith(".password.file"):
                mount, _, file = v.rpartition("/")
                sec = vols[mounts[mount]]["secret"]
                assert sec["secretName"] == secret["metadata"]["name"]
                assert file in secret["stringData"], f"{key}: {file} not in the Secret"
                pw = tmp_path / f"{key}.{file}"
                pw.write_text("pw\n")
                text = text.replace(v, str(pw))
        if cmd[0] == "shiftlog-applier":
            tasks.append(conf["task.name"])
        # the service itself accepts the config
        f = tmp_path / key
        f.write_text(text)
        r = subprocess.run([str(bin_dir / cmd[0]), "-c", str(f), "--check"], capture_output=True,
                           text=True, timeout=30, env=env)
        assert r.returncode == 0, f"{key}: {r.stderr}"
        assert re.search(r"configuration is valid", r.stderr), r.stderr
    assert tasks and len(tasks) == len(set(tasks)), f"one task per Deployment: {tasks}"
