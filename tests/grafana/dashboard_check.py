#!/usr/bin/python3
"""Validates deploy/grafana: the provisioned "Calibration" dashboard and its provisioning files.

  dashboard_check.py SOURCE_DIR [--prometheus URL --model NAME --param NAME]

Statically: the dashboard is a provisionable Grafana dashboard (uid, title, schema version, template variables
`model` and `param`), panel ids are unique, panels fit the 24-column grid without overlapping, every query uses
the provisioned Prometheus datasource, and every series it names is in the metrics catalog (docs/metrics.md) or
recorded by deploy/prometheus/rules. The panels the issue asks for are present (parameter trajectories with
true and prior values, loss, coverage vs target, update rate, latency percentiles).

With --prometheus: every query, with the variables filled in, runs on that Prometheus without error, and the
core panels' queries return data. Exit status 0 when all checks pass; failures are listed on stderr.
"""
import argparse
import json
import re
import sys
import urllib.parse
import urllib.request

import yaml

REQUIRED_PANELS = {  # title prefix -> series its queries must name
    "Parameter": {"hybrid_parameter_value", "hybrid_parameter_spread", "hybrid_parameter_reference",
                  "hybrid_parameter_initial"},
    "Loss": {"hybrid_calibration_loss"},
    "Coverage vs target": {"hybrid_interval_coverage_ratio", "hybrid_interval_coverage_target_ratio"},
    "Update rate": {"hybrid:calibration_updates:rate5m"},
    "Latency percentiles": {"hybrid:request_duration_seconds:p50_5m", "hybrid:request_duration_seconds:p95_5m",
                            "hybrid:request_duration_seconds:p99_5m"},
}
# Queries that must return data on a server that has calibrated `model` (the others may legitimately be
# empty on a young server: 5-minute rates, percentiles, rollbacks).
MUST_HAVE_DATA = {"Version", "Parameter $param", "Coverage vs target", "Loss", "Checkpoint age"}
SERIES = re.compile(r"\b(hybrid[_:][A-Za-z0-9_:]*)")


def catalog(src):
    names = set()
    for line in open(f"{src}/docs/metrics.md"):
        m = re.match(r"\| `(hybrid_[a-z0-9_]+)` \| (\w+) \|", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
    rules = yaml.safe_load(open(f"{src}/deploy/prometheus/rules/hybridserve.rules.yml"))
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names, recorded


def check_static(src, dash, errors):
    datasources = yaml.safe_load(open(f"{src}/deploy/grafana/provisioning/datasources/prometheus.yaml"))
    uid = datasources["datasources"][0]["uid"]
    providers = yaml.safe_load(open(f"{src}/deploy/grafana/provisioning/dashboards/hybridserve.yaml"))
    if providers["providers"][0]["type"] != "file":
        errors.append("dashboard provider is not a file provider")
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in dash:
            errors.append(f"dashboard has no {key}")
    if dash.get("title") != "Calibration":
        errors.append(f"title is {dash.get('title')!r}, not 'Calibration'")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    if set(variables) != {"model", "param"}:
        errors.append(f"template variables {sorted(variables)}, expected model and param")
    known, recorded = catalog(src)
    ids, cells = set(), {}
    found = {}
    for p in dash["panels"]:
        if p["id"] in ids:
            errors.append(f"panel id {p['id']} repeats")
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > 24 or g["w"] <= 0 or g["h"] <= 0:
            errors.append(f"panel '{p['title']}' does not fit the 24-column grid: {g}")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"panels '{cells[(x, y)]}' and '{p['title']}' overlap at {(x, y)}")
                cells[(x, y)] = p["title"]
        if not p.get("targets"):
            errors.append(f"panel '{p['title']}' has no query")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != uid or p.get("datasource", {}).get("uid") != uid:
                errors.append(f"panel '{p['title']}' query {t['refId']} does not use datasource {uid}")
            for name in SERIES.findall(t["expr"]):
                if name not in known and name not in recorded:
                    errors.append(f"panel '{p['title']}' names {name}, which is neither in docs/metrics.md "
                                  "nor recorded by the rules")
                found.setdefault(p["title"], set()).add(name)
    for variable in variables.values():
        for name in SERIES.findall(variable["definition"]):
            if name not in known:
                errors.append(f"variable {variable['name']} names unknown {name}")
    for prefix, needed in REQUIRED_PANELS.items():
        names = set().union(*[v for k, v in found.items() if k.startswith(prefix)] or [set()])
        if not needed <= names:
            errors.append(f"no '{prefix}' panel querying {sorted(needed - names)}")
    params = [p for p in dash["panels"] if p["title"].startswith("Parameter")]
    if params and params[0].get("repeat") != "param":
        errors.append("the parameter panel does not repeat over $param")


def check_live(dash, url, model, param, errors):
    def fill(expr):
        return (expr.replace("$model", model).replace("$param", param).replace("$__rate_interval", "1m"))

    for p in dash["panels"]:
        for t in p["targets"]:
            expr = fill(t["expr"])
            query = urllib.parse.urlencode({"query": expr})
            try:
                answer = json.load(urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10))
            except Exception as e:  # An HTTP 400 is Prometheus refusing the query.
                errors.append(f"panel '{p['title']}' query {expr!r} failed: {e}")
                continue
            if answer.get("status") != "success":
                errors.append(f"panel '{p['title']}' query {expr!r}: {answer}")
            elif p["title"] in MUST_HAVE_DATA and t["refId"] == "A" and not answer["data"]["result"]:
                errors.append(f"panel '{p['title']}' query {expr!r} returned no data")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("src")
    parser.add_argument("--prometheus")
    parser.add_argument("--model", default="lorenz63")
    parser.add_argument("--param", default="rho")
    args = parser.parse_args()
    dash = json.load(open(f"{args.src}/deploy/grafana/dashboards/calibration.json"))
    errors = []
    check_static(args.src, dash, errors)
    if args.prometheus:
        check_live(dash, args.prometheus, args.model, args.param, errors)
    for e in errors:
        print("dashboard_check:", e, file=sys.stderr)
    queries = sum(len(p["targets"]) for p in dash["panels"])
    print(f"dashboard_check: {len(dash['panels'])} panels, {queries} queries"
          f"{' run on ' + args.prometheus if args.prometheus else ''}: {'FAILED' if errors else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
