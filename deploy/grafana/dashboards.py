"""Generate quotad's Grafana dashboards (deploy/grafana/dashboards/*.json) from this one source.

Why generated: five dashboards share one datasource, one company variable and a dozen PromQL idioms
(GPU-seconds to GPU-hours, to EFLOPS via the peak-FLOPS table); written by hand they drift. The suite checks
that the committed JSON equals this output (tests/test_deploy_grafana.py) and runs every panel's expression
against a real Prometheus scraping a running daemon (tests/test_deploy_integration.py).

    .venv/bin/python deploy/grafana/dashboards.py          # rewrite the JSON files
    .venv/bin/python deploy/grafana/dashboards.py --check  # exit 1 if they differ from this source
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
#: Every panel queries the datasource the ``datasource`` variable picks (any Prometheus, chosen on import
#: through ``__inputs`` or in the dashboard), not a hard-coded uid.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
COMPANY = '{company="$company"}'
#: Filters of the ``cluster``/``company``/``node`` variables ("All" is ``.*``), for the dashboards that list many.
BY_CLUSTER = 'cluster=~"$cluster"'
BY_COMPANY = 'company=~"$companies"'
BY_NODE = 'cluster=~"$cluster", Hostname=~"$node"'
#: Per-GPU panels show at most ``$gpus`` series (topk/bottomk per step), so 2,000 GPUs never mean 2,000 lines.
GPU_LIMIT = "$gpus"
GPU = "{{Hostname}} GPU {{gpu}}"
#: What each variable stands for when the suite runs the expressions against Prometheus: "All" for the
#: multi-value ones, a company for ``company``, the default of ``gpus``.
ALL = {"cluster": ".*", "companies": ".*", "node": ".*", "gpus": "20"}

#: PromQL idioms: GPU-seconds -> EFLOP (x peak FLOP/s per GPU of that type), FLOP -> EFLOPS-hours.
USED_FLOP = "quotad_gpu_used_seconds * on (gpu_type) group_left quotad_gpu_type_peak_flops"
ALLOCATED_FLOPS = "quotad_gpus_allocated * on (gpu_type) group_left quotad_gpu_type_peak_flops"
EFLOPS_H = "/ 1e18 / 3600"


def _left_share(company: str) -> str:
    """Share of the grant period still to come, 0..1: the linear plan's remaining fraction."""
    end, start = f"quotad_grant_end_timestamp_seconds{company}", f"quotad_grant_start_timestamp_seconds{company}"
    return f"clamp(({end} - time()) / ({end} - {start}), 0, 1)"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # stat | timeseries | bargauge | table
    targets: tuple[Target, ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    decimals: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    company_variable: bool = False
    #: Multi-value filters this dashboard offers: "cluster", "companies", "node", "gpus".
    filters: tuple[str, ...] = ()
    time_from: str = "now-7d"


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.unit == "percentunit":
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [
                {"color": "green", "value": None},
                {"color": "orange", "value": 0.9},
                {"color": "red", "value": 1.0},
            ],
        }
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": panel.options,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": t.expr,
                "legendFormat": t.legend,
                "instant": t.instant or panel.kind in ("stat", "bargauge", "table"),
                "range": not (t.instant or panel.kind in ("stat", "bargauge", "table")),
                **({"format": "table"} if panel.kind == "table" else {}),
            }
            for i, t in enumerate(panel.targets)
        ],
    }


def _dashboard_json(d: Dashboard) -> dict[str, Any]:
    panels, x, y, row_height = [], 0, 0, 0
    for i, panel in enumerate(d.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel_json(panel, i, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {"text": "${DS_PROMETHEUS}", "value": "${DS_PROMETHEUS}"},
            "hide": 0,
            "refresh": 1,
            "regex": "",
        }
    ]
    if d.company_variable:
        variables.append(_query_variable("company", "Company", "label_values(quotad_company_info, company)", False))
    for name in d.filters:
        variables.append(_FILTERS[name])
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes quotad and its node agents",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": ["quotad"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": d.time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [{"title": "quotad", "type": "dashboards", "tags": ["quotad"], "asDropdown": True}],
        "panels": panels,
    }


def _query_variable(name: str, label: str, query: str, multi: bool) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        **({"allValue": ".*", "current": {"text": "All", "value": "$__all"}} if multi else {}),
    }


_FILTERS: dict[str, dict[str, Any]] = {
    "cluster": _query_variable("cluster", "Cluster", 'label_values(up{job=~"quotad|quotad-agent"}, cluster)', True),
    "companies": _query_variable("companies", "Company", "label_values(quotad_company_info, company)", True),
    "node": _query_variable("node", "Node", 'label_values(quotad_gpu_util{cluster=~"$cluster"}, Hostname)', True),
    "gpus": {
        "name": "gpus",
        "label": "GPUs per panel",
        "type": "custom",
        "query": "10,20,50,100",
        "current": {"text": "20", "value": "20"},
        "options": [{"text": v, "value": v, "selected": v == "20"} for v in ("10", "20", "50", "100")],
        "multi": False,
        "includeAll": False,
    },
}


def substitute(expr: str, **values: str) -> str:
    """``expr`` with Grafana's variables (``$name``, ``${name}``) replaced: ``values`` first, then ``ALL``."""
    known = {**ALL, **values}
    return re.sub(r"\$\{?(\w+)\}?", lambda m: known.get(m.group(1), m.group(0)), expr)


def dashboards() -> list[Dashboard]:
    """The five dashboards: programme overview, company drill-down, idle GPUs, collector and agent health, and
    the agents' per-GPU telemetry."""
    c = COMPANY
    F = f"{BY_CLUSTER}, {BY_COMPANY}"  # the filters of the programme-wide dashboards
    overview = Dashboard(
        "quotad-overview",
        "quotad: programme overview",
        "Every company's grant and use, in GPU-hours and in normalised compute (peak dense BF16).",
        (
            Panel("Compute allocated now (EFLOPS)", "stat", (Target(f"sum({ALLOCATED_FLOPS}) / 1e18"),), "none",
                  6, 4, "Peak dense BF16 EFLOPS of the GPUs running jobs hold (last Slurm poll).", 2,
                  {"graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"]}}),
            Panel("GPUs allocated now", "stat", (Target("sum(quotad_gpus_allocated)"),), "none", 6, 4),
            Panel("GPUs idle now", "stat", (Target("sum(quotad_gpus_idle)"),), "none", 6, 4,
                  "Allocated GPUs idle at their last NVML sample (nodes with an agent)."),
            Panel("Granted / used (EFLOPS-hours)", "stat",
                  (Target(f"sum(quotad_grant_flop) {EFLOPS_H}", "granted"),
                   Target(f"sum({USED_FLOP}) {EFLOPS_H}", "used")), "none", 6, 4, decimals=1),
            Panel("Grant used, by company", "bargauge",
                  (Target(f"quotad_company_used_ratio{{{BY_COMPANY}}}", "{{{{company}}}}"),),
                  "percentunit", 12, 9, "As `quotad status`: use over grant across each company's active grants.",
                  options={"displayMode": "gradient", "orientation": "horizontal"}),
            Panel("Projected use at period end, by company", "bargauge",
                  (Target(f"quotad_company_projected_ratio{{{BY_COMPANY}}}", "{{{{company}}}}"),), "percentunit", 12, 9,
                  "Used + trailing 7-day rate x time left, over the grant. Above 100 % is an overrun.",
                  options={"displayMode": "gradient", "orientation": "horizontal"}),
            Panel("GPU-hours used, by company", "timeseries",
                  (Target(f"sum by (company) (quotad_gpu_used_seconds{{{F}}}) / 3600", "{{{{company}}}}"),),
                  "none", 12, 9,
                  "Since the start of each company's current grant period."),
            Panel("EFLOPS-hours used, by company", "timeseries",
                  (Target(f"sum by (company) (quotad_gpu_used_seconds{{{F}}} * on (gpu_type) group_left "
                          f"quotad_gpu_type_peak_flops) {EFLOPS_H}", "{{{{company}}}}"),), "none", 12, 9),
            Panel("GPUs allocated, by company", "timeseries",
                  (Target(f"sum by (company) (quotad_gpus_allocated{{{F}}})", "{{{{company}}}}"),), "none", 12, 8),
            Panel("Open directives", "table",
                  (Target("sum by (policy, severity) (quotad_directives_open)"),), "none", 12, 8),
            Panel("Pool this month (GPU-hours)", "stat",
                  (Target('sum(quotad_pool_reserved_gpu_seconds{window="month"}) / 3600', "reserved"),
                   Target('sum(quotad_pool_allocated_gpu_seconds{window="month"}) / 3600', "allocated"),
                   Target('sum(quotad_pool_busy_gpu_seconds{window="month"}) / 3600', "busy (agents)")),
                  "none", 12, 6, "Reserved capacity from providers against what jobs were allocated and what "
                  "the node agents saw busy, since the start of the month (programme time zone).", 0),
            Panel("Paid but unallocated this month, by cluster (GPU-hours)", "bargauge",
                  (Target('sum by (cluster, gpu_type) (quotad_pool_unallocated_gpu_seconds{window="month"}) / 3600',
                          "{{cluster}} {{gpu_type}}"),),
                  "none", 12, 6, "Reserved GPU-hours outside maintenance that no job was allocated.",
                  options={"displayMode": "gradient", "orientation": "horizontal"}),
        ),
        filters=("cluster", "companies"),
    )
    company = Dashboard(
        "quotad-company",
        "quotad: company",
        "One company: its grants, burn-down against them, where it runs and what it leaves idle.",
        (
            Panel("Grant used", "stat", (Target(f"quotad_company_used_ratio{c}"),), "percentunit", 6, 4),
            Panel("Projected at period end", "stat", (Target(f"quotad_company_projected_ratio{c}"),),
                  "percentunit", 6, 4),
            Panel("GPUs allocated now", "stat", (Target(f"sum(quotad_gpus_allocated{c})"),), "none", 6, 4),
            Panel("GPUs idle now", "stat", (Target(f"sum(quotad_gpus_idle{c})"),), "none", 6, 4),
            Panel("Burn-down: GPU-hours left per grant, against a linear plan", "timeseries",
                  (Target(f"quotad_grant_gpu_seconds{c} * (1 - quotad_grant_used_ratio{c}) / 3600",
                          "left {{cluster}} {{gpu_type}}"),
                   Target(f"quotad_grant_gpu_seconds{c} * {_left_share(c)} / 3600",
                          "plan {{cluster}} {{gpu_type}}")),
                  "none", 12, 9, "GPU-type grants. Left below plan: burning faster than an even pace."),
            Panel("Burn-down: EFLOPS-hours left (all grants), against a linear plan", "timeseries",
                  (Target(f"sum(quotad_grant_flop{c} * (1 - quotad_grant_used_ratio{c})) {EFLOPS_H}", "left"),
                   Target(f"sum(quotad_grant_flop{c} * {_left_share(c)}) {EFLOPS_H}", "plan")),
                  "none", 12, 9, "Every grant normalised to peak dense BF16 compute."),
            Panel("GPU-hours used, by cluster and GPU type", "timeseries",
                  (Target(f"sum by (cluster, gpu_type) (quotad_gpu_used_seconds{c}) / 3600",
                          "{{cluster}} {{gpu_type}}"),), "none", 12, 8),
            Panel("GPUs allocated and idle, by cluster and GPU type", "timeseries",
                  (Target(f"sum by (cluster, gpu_type) (quotad_gpus_allocated{c})",
                          "allocated {{cluster}} {{gpu_type}}"),
                   Target(f"sum by (cluster, gpu_type) (quotad_gpus_idle{c})", "idle {{cluster}} {{gpu_type}}")),
                  "none", 12, 8),
            Panel("Grants", "table",
                  (Target(f"quotad_grant_used_ratio{c}"), Target(f"quotad_grant_projected_ratio{c}")),
                  "percentunit", 24, 7),
        ),
        company_variable=True,
    )
    idle = Dashboard(
        "quotad-idle",
        "quotad: idle GPUs",
        "Allocated GPUs the node agents saw idle, by company, GPU type and job.",
        (
            Panel("Idle GPUs, by company", "timeseries",
                  (Target(f"sum by (company) (quotad_gpus_idle{{{F}}})", "{{{{company}}}}"),), "none", 12, 9),
            Panel("Idle share of allocated GPUs, by company", "timeseries",
                  (Target(f"sum by (company) (quotad_gpus_idle{{{F}}})"
                          f" / sum by (company) (quotad_gpus_allocated{{{F}}})",
                          "{{{{company}}}}"),), "percentunit", 12, 9),
            Panel("Idle GPUs, by cluster and GPU type", "timeseries",
                  (Target(f"sum by (cluster, gpu_type) (quotad_gpus_idle{{{F}}})",
                          "{{{{cluster}}}} {{{{gpu_type}}}}"),),
                  "none", 12, 8),
            Panel("Jobs holding idle GPUs", "table",
                  (Target(f"quotad_slurm_job_gpus_idle{{{F}}}"), Target(f"quotad_slurm_job_idle_seconds{{{F}}}")),
                  "none", 12, 8,
                  "Idle GPUs per running job, and the longest current idle streak among them (seconds)."),
        ),
        filters=("cluster", "companies"),
        time_from="now-24h",
    )
    health = Dashboard(
        "quotad-health",
        "quotad: collector and agent health",
        "Is quotad collecting: daemon jobs, Slurm polls, the ledger, the NVML agents.",
        (
            Panel("Ledger readable", "stat", (Target("min(quotad_ledger_up)"),), "bool_yes_no", 6, 4),
            Panel("Usage aggregate age", "stat", (Target("time() - max(quotad_usage_snapshot_timestamp_seconds)"),),
                  "s", 6, 4),
            Panel("Agents up", "stat", (Target(f'sum(up{{job="quotad-agent", {BY_CLUSTER}}})'),), "none", 6, 4),
            Panel("Agents down", "stat",
                  (Target(f'count(up{{job="quotad-agent", {BY_CLUSTER}}} == 0) or vector(0)'),), "none", 6, 4),
            Panel("Daemon jobs: seconds since last success, and allowed", "timeseries",
                  (Target("quotad_daemon_job_success_age_seconds", "{{daemon_job}}"),
                   Target("quotad_daemon_job_stale_after_seconds", "allowed {{daemon_job}}")), "s", 12, 8),
            Panel("Collector: age of last successful poll", "timeseries",
                  (Target(f"time() - quotad_collector_last_success_timestamp_seconds{{{BY_CLUSTER}}}",
                          "{{{{cluster}}}} {{{{source}}}}"),),
                  "s", 12, 8),
            Panel("Collector: last poll duration", "timeseries",
                  (Target(f"quotad_collector_last_duration_seconds{{{BY_CLUSTER}}}",
                          "{{{{cluster}}}} {{{{source}}}}"),),
                  "s", 12, 8),
            Panel("Errors in the last hour", "timeseries",
                  (Target(f"increase(quotad_collector_errors_total{{{BY_CLUSTER}}}[1h])", "poll {{{{cluster}}}}"),
                   Target("increase(quotad_daemon_job_errors_total[1h])", "job {{daemon_job}}")), "none", 12, 8),
            Panel("Agents down", "table", (Target(f'up{{job="quotad-agent", {BY_CLUSTER}}} == 0'),), "none", 24, 6,
                  "NVML agents Prometheus cannot scrape now (alert QuotadAgentDown after 5 minutes)."),
        ),
        filters=("cluster",),
        time_from="now-24h",
    )
    gpus = Dashboard(
        "quotad-gpus",
        "quotad: GPUs (node agents)",
        "Per-GPU telemetry the NVML agents export (DCGM-compatible names): what the idle policy sees.",
        (
            Panel("GPUs reporting", "stat", (Target(f"count(quotad_gpu_util{{{BY_NODE}}})"),), "none", 6, 4),
            Panel("Mean GPU utilisation", "stat", (Target(f"avg(quotad_gpu_util{{{BY_NODE}}})"),), "percent", 6, 4),
            Panel("Power draw (kW)", "stat", (Target(f"sum(quotad_gpu_power_usage{{{BY_NODE}}}) / 1000"),), "none",
                  6, 4,
                  decimals=1),
            Panel("NVML errors per minute", "stat",
                  (Target(f"sum(rate(quotad_agent_nvml_errors_total{{{BY_CLUSTER}}}[5m])) * 60 or vector(0)"),),
                  "none", 6, 4),
            Panel("GPU utilisation (the least busy)", "timeseries",
                  (Target(f"bottomk({GPU_LIMIT}, quotad_gpu_util{{{BY_NODE}}})", GPU),), "percent", 12, 8,
                  "The $gpus least busy GPUs of the selection at each step: the ones the idle policy looks at."),
            Panel("Utilisation over the trailing window (the least busy)", "timeseries",
                  (Target(f"bottomk({GPU_LIMIT}, quotad_gpu_recent_util{{{BY_NODE}}})", GPU),), "percent", 12, 8,
                  "Mean over the agent's trailing window (30 min by default): the idle policy's second test."),
            Panel("Frame buffer used (GiB, the most)", "timeseries",
                  (Target(f"topk({GPU_LIMIT}, quotad_gpu_fb_used{{{BY_NODE}}}) / 1024", GPU),), "none", 12, 8,
                  "Memory held with no compute is the typical idle-but-allocated GPU."),
            Panel("Power draw (W, the highest)", "timeseries",
                  (Target(f"topk({GPU_LIMIT}, quotad_gpu_power_usage{{{BY_NODE}}})", GPU),), "watt", 12, 8),
        ),
        filters=("cluster", "node", "gpus"),
        time_from="now-6h",
    )
    return [overview, company, idle, health, gpus]


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {f"{d.uid}.json": json.dumps(_dashboard_json(d), indent=2, ensure_ascii=False) + "\n" for d in dashboards()}


def expressions() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every target, for the suite to run against Prometheus."""
    return [(d.uid, p.title, t.expr) for d in dashboards() for p in d.panels for t in p.targets]


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="exit 1 if the committed JSON differs")
    opts = args.parse_args()
    stale = []
    for name, text in render().items():
        path = OUT / name
        if opts.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
