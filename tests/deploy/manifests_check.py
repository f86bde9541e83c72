#!/usr/bin/python3
"""deploy/compose.yaml and deploy/k8s, checked without Docker or a cluster.

Neither can run on our machines, so this checks what would break them:
  * every hybridserve/hybridctl flag they pass exists (asked from the built
    binaries' --helpfull), so a renamed flag fails here, not at deploy time;
  * k8s: every field of every built-in object is in the Kubernetes API schema
    (Debian's python3-kubernetes models), required fields are present, and the
    objects agree with each other (selectors, named ports, volumes, the state
    folder, the shard arguments); the ServiceMonitor selects the Service and
    scrapes a port it has; prometheusrule.yaml is exactly the shipped rules;
  * compose: the services, the files it mounts exist, Prometheus scrapes the
    hybridserve service on its metrics port, Grafana's provisioning points at
    the Prometheus service and at the folder the dashboards are mounted in.

Usage: manifests_check.py SOURCE_DIR BUILD_DIR
       manifests_check.py SOURCE_DIR --write-prometheusrule   (regenerate it)
"""
import os
import shlex
import sys

import kubernetes.client
import yaml

from check_helpers import check, known_flags, problems

PROMETHEUSRULE_HEADER = ("# deploy/prometheus/rules/hybridserve.rules.yml for the Prometheus Operator. "
                         "Generated; do not edit:\n#   tests/deploy/manifests_check.py SOURCE_DIR "
                         "--write-prometheusrule\n")
def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_flags(where, words, flags, binary_name):
    """Every --flag among `words` must be one the binary knows."""
    for word in words:
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            check(name in flags, f"{where}: {binary_name} has no flag --{name}")


def prometheus_rule(source):
    with open(os.path.join(source, "deploy/prometheus/rules/hybridserve.rules.yml")) as f:
        rules = yaml.safe_load(f)
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "hybridserve", "labels": {"app.kubernetes.io/name": "hybridserve"}},
            "spec": rules}


def write_prometheus_rule(source):
    class Literal(yaml.SafeDumper):
        pass

    def text(dumper, value):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Literal.add_representer(str, text)
    with open(os.path.join(source, "deploy/k8s/prometheusrule.yaml"), "w") as f:
        f.write(PROMETHEUSRULE_HEADER)
        yaml.dump(prometheus_rule(source), f, Dumper=Literal, sort_keys=False, width=120)


# --- Kubernetes API schema (python3-kubernetes models) -------------------------------------------

def schema_check(value, type_name, path):
    """Walks `value` against the model named `type_name` (e.g. 'V1StatefulSet')."""
    if type_name.startswith("list["):
        if check(isinstance(value, list), f"{path}: expected a list"):
            for i, item in enumerate(value):
                schema_check(item, type_name[5:-1], f"{path}[{i}]")
        return
    if type_name.startswith("dict("):
        if check(isinstance(value, dict), f"{path}: expected a map"):
            inner = type_name[5:-1].split(", ", 1)[1]
            for key, item in value.items():
                schema_check(item, inner, f"{path}.{key}")
        return
    if type_name in ("str", "int", "bool", "float"):
        expected = {"str": str, "int": int, "bool": bool, "float": (int, float)}[type_name]
        check(isinstance(value, expected) and not (type_name == "int" and isinstance(value, bool)),
              f"{path}: expected {type_name}, found {value!r}")
        return
    if type_name == "object":  # int-or-string, quantities, free-form
        return
    model = getattr(kubernetes.client, type_name)
    if not check(isinstance(value, dict), f"{path}: expected an object ({type_name})"):
        return
    json_to_attr = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, item in value.items():
        if check(key in json_to_attr, f"{path}: '{key}' is not a field of {type_name}"):
            schema_check(item, model.openapi_types[json_to_attr[key]], f"{path}.{key}")
    # Required fields: the model's constructor refuses None for them.
    try:
        model(**{json_to_attr[k]: v for k, v in value.items() if k in json_to_attr})
    except ValueError as error:
        problems.append(f"{path}: {error}")


def check_k8s(source, serve_flags, ctl_flags):
    folder = os.path.join(source, "deploy/k8s")
    with open(os.path.join(folder, "kustomization.yaml")) as f:
        resources = yaml.safe_load(f)["resources"]
    objects = {}
    for name in resources:
        for doc in load_all(os.path.join(folder, name)):
            objects[doc["kind"]] = doc
            if doc["apiVersion"] in ("v1", "apps/v1"):
                schema_check(doc, "V1" + doc["kind"], f"{name}:{doc['kind']}")
    check(set(objects) == {"StatefulSet", "Service", "ServiceMonitor", "PrometheusRule"},
          f"deploy/k8s objects: {sorted(objects)}")
    sts, svc, monitor = objects["StatefulSet"], objects["Service"], objects["ServiceMonitor"]

    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    check(sts["spec"]["selector"]["matchLabels"].items() <= labels.items(), "StatefulSet selector misses its pods")
    check(svc["spec"]["selector"].items() <= labels.items(), "Service selector misses the pods")
    check(svc["spec"].get("clusterIP") == "None", "Service must be headless (one DNS name per shard)")
    check(sts["spec"]["serviceName"] == svc["metadata"]["name"], "StatefulSet.serviceName is not the Service")
    check(monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
          "ServiceMonitor does not select the Service")

    container = pod["spec"]["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in svc["spec"]["ports"]:
        check(port["targetPort"] in port_names, f"Service port {port['name']} targets an unknown container port")
    service_ports = {p["name"] for p in svc["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        check(endpoint["port"] in service_ports, f"ServiceMonitor scrapes port '{endpoint['port']}' the Service lacks")
        check(endpoint.get("path", "/metrics") == "/metrics", "ServiceMonitor path is not /metrics")

    # The server command: a shell line, so split it the way sh would (minus expansion).
    words = shlex.split(" ".join(container["command"][2:] + container["args"]))
    check(words[:2] == ["exec", "hybridserve"], f"the container must exec hybridserve: {words[:2]}")
    check_flags("StatefulSet args", words, serve_flags, "hybridserve")
    args = dict(w[2:].split("=", 1) for w in words if w.startswith("--") and "=" in w)
    check(args.get("shard") == "${HOSTNAME##*-}/${HYBRID_SHARDS}", "--shard must come from the pod ordinal")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    check(env.get("HYBRID_SHARDS") == str(sts["spec"]["replicas"]), "HYBRID_SHARDS must equal replicas")
    for flag, port_name in (("grpc_address", "grpc"), ("metrics_address", "metrics")):
        check(args.get(flag, "").endswith(f":{port_names.get(port_name)}"), f"--{flag} is not the '{port_name}' port")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    state_mounts = [mounts[name] for name in claims if name in mounts]
    check(state_mounts == [args.get("state_dir")], f"--state_dir {args.get('state_dir')} is not the volume {state_mounts}")
    check(os.path.dirname(args.get("auth_tokens", "")) in mounts.values(), "--auth_tokens is not on a mounted Secret")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        check(command[0] == "hybridctl" and command[-1] == "health", f"{probe}: {command}")
        check_flags(probe, command, ctl_flags, "hybridctl")
        check(f"--target=127.0.0.1:{port_names['grpc']}" in command, f"{probe} does not probe the gRPC port")
    security = container["securityContext"]
    check(pod["spec"]["securityContext"].get("runAsNonRoot") is True, "pods must run as non-root")
    check(security.get("readOnlyRootFilesystem") is True and security.get("allowPrivilegeEscalation") is False,
          "the container must have a read-only root and no privilege escalation")

    rule = objects["PrometheusRule"]
    check(rule == prometheus_rule(source),
          "prometheusrule.yaml differs from deploy/prometheus/rules/hybridserve.rules.yml; "
          "run tests/deploy/manifests_check.py SOURCE_DIR --write-prometheusrule")
    print(f"deploy/k8s: {len(objects)} objects, schema and cross-references checked")


def check_compose(source, serve_flags):
    deploy = os.path.join(source, "deploy")
    compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml")))
    services = compose["services"]
    check(set(services) == {"hybridserve", "prometheus", "grafana"}, f"compose services: {sorted(services)}")
    server = services["hybridserve"]
    check(os.path.isfile(os.path.join(deploy, server["build"]["context"], server["build"]["dockerfile"])),
          "compose builds from a Dockerfile that does not exist")
    check_flags("compose hybridserve.command", server["command"], serve_flags, "hybridserve")
    args = dict(w[2:].split("=", 1) for w in server["command"])
    metrics_port = args["metrics_address"].rsplit(":", 1)[1]
    grpc_port = args["grpc_address"].rsplit(":", 1)[1]
    published = {p.rsplit(":", 1)[1] for p in server["ports"]}
    check({grpc_port, metrics_port} <= published, "compose does not publish hybridserve's ports")
    check(all(p.startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", [])),
          "compose must publish on loopback only")
    check(any(v.endswith(":" + args["state_dir"]) for v in server["volumes"]), "--state_dir is not on a volume")

    mounts = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            host, container = volume.split(":")[:2]
            if host.startswith("./"):
                check(os.path.exists(os.path.join(deploy, host)), f"compose {name} mounts missing {host}")
                mounts[container] = os.path.join(deploy, host)
    prometheus_config = yaml.safe_load(open(mounts["/etc/prometheus/prometheus.yml"]))
    targets = [t for job in prometheus_config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    check(targets == [f"hybridserve:{metrics_port}"], f"compose Prometheus scrapes {targets}")
    for rule_file in prometheus_config["rule_files"]:
        check(os.path.join("/etc/prometheus", rule_file).startswith("/etc/prometheus/rules/")
              and os.path.exists(os.path.join(mounts["/etc/prometheus/rules"], os.path.basename(rule_file))),
              f"compose Prometheus rule file {rule_file} is not mounted")
    provisioning = mounts["/etc/grafana/provisioning"]
    datasource = yaml.safe_load(open(os.path.join(provisioning, "datasources/prometheus.yaml")))["datasources"][0]
    check(datasource["url"] == "http://prometheus:9090", f"Grafana datasource url {datasource['url']}")
    provider = yaml.safe_load(open(os.path.join(provisioning, "dashboards/hybridserve.yaml")))["providers"][0]
    check(provider["options"]["path"] in mounts, "Grafana's dashboard folder is not where the dashboards are mounted")
    home = services["grafana"]["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
    check(os.path.isfile(os.path.join(mounts.get(os.path.dirname(home), ""), os.path.basename(home))),
          f"Grafana's home dashboard {home} is not mounted")
    check("?" in services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"],
          "Grafana's admin password must be required from the environment, not defaulted")
    print(f"deploy/compose.yaml: {len(services)} services checked")


def main():
    source = sys.argv[1]
    if sys.argv[2] == "--write-prometheusrule":
        write_prometheus_rule(source)
        return
    build = sys.argv[2]
    serve_flags = known_flags(os.path.join(build, "server/hybridserve"))
    ctl_flags = known_flags(os.path.join(build, "client/hybridctl"))
    check_k8s(source, serve_flags, ctl_flags)
    check_compose(source, serve_flags)
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
