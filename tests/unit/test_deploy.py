"""The deployment files say what the code does: alert rules pass promtool, the Kubernetes
manifests render and validate against the Kubernetes schemas offline, and every metric the
rules and the dashboard use is one the processes export."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY

import servicekit.metrics  # noqa: F401 - registers every metric
from deploy.kustomize import build

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["external", "operators"]
KUBERNETES_VERSION = "1.32.0"


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: apt-get install prometheus (CI does)", pytrace=False)
    done = subprocess.run([binary, *args], cwd=PROMETHEUS, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_alert_rules_pass_promtool_and_fire_on_the_series_they_watch():
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")
    promtool("check", "config", "prometheus.yml")


def exported_metric_names() -> set[str]:
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else []:
            names.add(family.name)
        if collector is servicekit.metrics.resources:
            names |= {family.name for family in collector.collect()}
    expanded = set()
    for name in names:
        expanded |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return expanded


def test_rules_and_dashboard_use_only_metrics_the_processes_export():
    exported = exported_metric_names()
    dashboard = (ROOT / "deploy/grafana/dashboards/navigator.json").read_text()
    for text in ((PROMETHEUS / "alerts.yml").read_text(), dashboard):
        used = set(re.findall(r"\bnavigator_[a-z_]+", text))
        assert used and used <= exported, used - exported
    panels = json.loads(dashboard)["panels"]
    assert any("rpc_duration" in t["expr"] for p in panels for t in p["targets"])


def test_compose_provisions_prometheus_and_the_grafana_dashboard():
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = {volume.split(":")[0] for volume in grafana["volumes"]}
    assert {"./grafana/provisioning", "./grafana/dashboards"} <= mounts
    for mount in mounts:
        assert (ROOT / "deploy" / mount).is_dir()
    assert "./prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/navigator.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def rendered(overlay: str) -> list[dict]:
    return build(K8S / "overlays" / overlay)


def is_core(doc: dict) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return group in ("", "apps", "batch", "autoscaling", "policy")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_core_object_validates_against_the_kubernetes_schema(overlay):
    documents = rendered(overlay)
    core = [doc for doc in documents if is_core(doc)]
    assert len(core) >= 20
    for doc in core:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at {error.path}")
    assert all(
        doc["metadata"].get("namespace") == "navigator"
        for doc in core
        if doc["kind"] != "Namespace"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_our_renderer_agrees_with_kustomize_where_it_is_installed(overlay):
    kubectl = shutil.which("kubectl") or shutil.which("kustomize")
    ours = rendered(overlay)
    if kubectl is None:  # the renderer alone is what the other tests check then
        assert ours
        return
    command = [kubectl, "kustomize"] if kubectl.endswith("kubectl") else [kubectl, "build"]
    done = subprocess.run(
        [*command, str(K8S / "overlays" / overlay)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    theirs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key)


# development's own SMTP server (stores letters in var/mail/); production names its relay
DEVELOPMENT_ONLY = {"mail"}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name.strip(): command.split()[-1]
        for name, command in (line.split(":", 1) for line in lines if line.strip())
        if name.strip() not in DEVELOPMENT_ONLY
    }


def test_every_process_of_the_procfile_is_a_deployment_with_probes_resources_and_grace():
    documents = rendered("external")
    deployments = {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == "Deployment"}
    config = next(doc for doc in documents if doc["kind"] == "ConfigMap")
    for name, target in procfile().items():
        assert name in deployments, f"{name} has no Deployment"
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"][-1] == target
        assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container)
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        assert pod["terminationGracePeriodSeconds"] > int(config["data"]["RPC_TIMEOUT"])
        refs = {
            ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]
        }
        assert refs == {config["metadata"]["name"], f"navigator-{name}"}
        if name != "gateway":
            probe = container["readinessProbe"]["exec"]["command"]
            assert probe == ["python", "-m", "servicekit.healthcheck", name]
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_autoscalers_budgets_and_the_prepare_job():
    documents = rendered("external")
    deployments = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "Deployment"}
    scaled = {
        doc["spec"]["scaleTargetRef"]["name"]
        for doc in documents
        if doc["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled == {"gateway", "catalog", "enrollment"} and scaled <= deployments
    budgets = {
        doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for doc in documents
        if doc["kind"] == "PodDisruptionBudget"
    }
    assert budgets == deployments
    (job,) = [doc for doc in documents if doc["kind"] == "Job"]
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "servicekit.migrate upgrade" in script and "servicekit.topology" in script
    external = {
        doc["metadata"]["name"]
        for doc in documents
        if doc["kind"] == "Service" and doc["spec"].get("type") == "ExternalName"
    }
    assert external == {"postgres", "rabbitmq"}


def test_operators_overlay_runs_quorum_rabbitmq_and_cloudnativepg():
    documents = rendered("operators")
    kinds = {doc["kind"]: doc for doc in documents}
    assert "quorum" in kinds["RabbitmqCluster"]["spec"]["rabbitmq"]["additionalConfig"]
    assert kinds["RabbitmqCluster"]["spec"]["replicas"] == 3
    assert kinds["Cluster"]["apiVersion"].startswith("postgresql.cnpg.io/")
    for doc in documents:
        if doc["kind"] in ("Deployment", "Job") and doc["metadata"]["name"] != "nginx":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            env = {item["name"]: item for item in container["env"]}
            assert "@postgres-rw:" in env["DATABASE_URL"]["value"]
            assert "$(DATABASE_PASSWORD)" in env["DATABASE_URL"]["value"]
            assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-app"
            names = list(env)
            assert names.index("DATABASE_PASSWORD") < names.index("DATABASE_URL")


def test_the_edge_proxy_in_kubernetes_runs_the_nginx_config_of_compose():
    documents = rendered("external")
    config = next(
        doc
        for doc in documents
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "nginx-config"
    )
    assert config["data"]["default.conf"] == (ROOT / "deploy/nginx/navigator.conf").read_text()
    gateway = next(
        doc
        for doc in documents
        if doc["kind"] == "Service" and doc["metadata"]["name"] == "gateway"
    )
    assert "server gateway:8000;" in config["data"]["default.conf"]
    assert gateway["spec"]["ports"][0]["port"] == 8000
    assert "location = /metrics" in config["data"]["default.conf"]
    assert "X-Request-ID $request_id" in config["data"]["default.conf"]


def test_every_process_of_the_procfile_runs_in_compose_with_its_environment_and_health():
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())["services"]
    for name, target in procfile().items():
        assert name in compose, f"{name} runs in the Procfile but not in docker-compose"
        service = compose[name]
        assert service["command"][-1] == target if "command" in service else name == "gateway"
        environment = service["environment"]
        assert {"DATABASE_URL", "AMQP_URI", "NAVIGATOR_ENV", "LOG_FORMAT"} <= set(environment)
        assert service["depends_on"] == {"prepare": {"condition": "service_completed_successfully"}}
        assert int(service["stop_grace_period"].rstrip("s")) > 5
        test = service["healthcheck"]["test"]
        if name != "gateway":
            assert test == ["CMD", "python", "-m", "servicekit.healthcheck", name]
        else:
            assert "/healthz" in " ".join(test)
    scraped = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    names = {n for job in scraped for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
    assert names == set(procfile()), "Prometheus scrapes exactly the processes compose runs"


def relabel(labels: dict[str, str], rules: list[dict]) -> dict[str, str] | None:
    """Prometheus relabelling for the actions deploy/k8s/prometheus-scrape.yml uses (keep,
    replace); None when the target is dropped."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if rule.get("action", "replace") == "keep":
            if match is None:
                return None
        elif match is not None:
            replacement = rule.get("replacement", "$1")
            template = re.sub(r"\$(\d+)", r"\\\1", replacement)
            labels[rule["target_label"]] = match.expand(template)
    return labels


def test_kubernetes_scrapes_label_every_process_with_its_service():
    """The dashboard's "by service" panels need a `service` label; annotation scraping alone
    gives none, so every pod would fall into one series."""
    jobs = yaml.safe_load((K8S / "prometheus-scrape.yml").read_text())["scrape_configs"]
    seen = {}
    for doc in rendered("external"):
        if doc["kind"] != "Deployment":
            continue
        template = doc["spec"]["template"]
        meta = {"__address__": "10.1.2.3", "__meta_kubernetes_pod_name": "pod-1"}
        for key, value in template["metadata"]["labels"].items():
            meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
        for key, value in template["metadata"].get("annotations", {}).items():
            meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
        for job in jobs:
            target = relabel(meta, job["relabel_configs"])
            if target is not None:
                port = template["metadata"]["annotations"]["prometheus.io/port"]
                assert target["__address__"] == f"10.1.2.3:{port}"
                seen[doc["metadata"]["name"]] = (job["job_name"], target["service"])
    assert set(seen) == set(procfile()), "every process of the Procfile is scraped once"
    for name, (job, service) in seen.items():
        assert service == name
        assert job == ("navigator-gateway" if name == "gateway" else "navigator-services")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_gets_a_secret_of_its_own_that_apply_never_overwrites(overlay):
    """`kubectl apply -k` carries no Secret (a placeholder would replace the real one), and
    only accounts, which signs tokens, holds the private key."""
    documents = rendered(overlay)
    assert not [doc for doc in documents if doc["kind"] == "Secret"]
    examples = {
        doc["metadata"]["name"]: doc["stringData"]
        for doc in yaml.safe_load_all((K8S / "secrets.example.yaml").read_text())
    }
    referenced = set()
    for doc in documents:
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for ref in container.get("envFrom", []):
                    if "secretRef" in ref:
                        referenced.add(ref["secretRef"]["name"])
    assert referenced == set(examples)
    holders = {name for name, data in examples.items() if "JWT_PRIVATE_KEY" in data}
    assert holders == {"navigator-accounts"}
    assert {name for name, data in examples.items() if "JWT_PUBLIC_KEY" in data} == {
        "navigator-gateway"
    }
    for data in examples.values():
        assert all("CHANGE-ME" in value for value in data.values())


def test_the_example_secrets_stop_a_process_at_start():
    from servicekit import config

    for doc in yaml.safe_load_all((K8S / "secrets.example.yaml").read_text()):
        with pytest.raises(config.Placeholder, match="DATABASE_URL"):
            config.refuse_placeholders(doc["stringData"])


def test_the_grafana_panels_draw_each_query_apart():
    """`A or B` over the same labels shows only A: one query per series kind."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/navigator.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert not re.search(r"\)\s+or\s+sum", target["expr"]), panel["title"]
    parked = [
        t
        for p in dashboard["panels"]
        for t in p.get("targets", [])
        if "navigator_events_parked_total" in t["expr"]
    ]
    assert parked
