"""Grafana dashboards: the committed JSON is what deploy/grafana/dashboards.py generates, and well formed."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

GRAFANA = Path(__file__).resolve().parents[1] / "deploy" / "grafana"


def dashboards_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quotad_grafana_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_committed_json_equals_the_generated() -> None:
    rendered: dict[str, str] = dashboards_module().render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed.keys() == rendered.keys()
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} is stale: run .venv/bin/python deploy/grafana/dashboards.py"


def test_dashboards_are_well_formed_and_importable_on_any_prometheus() -> None:
    """No hard-coded datasource uid: a ``datasource`` variable (``__inputs`` asks for it on UI import)."""
    titles = set()
    for path in (GRAFANA / "dashboards").glob("*.json"):
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] == path.stem and board["title"] not in titles
        titles.add(board["title"])
        assert "quotad-prometheus" not in path.read_text(encoding="utf-8")
        (needed,) = board["__inputs"]
        assert needed["type"] == "datasource" and needed["pluginId"] == "prometheus"
        variables = {v["name"]: v for v in board["templating"]["list"]}
        picker = variables["datasource"]
        assert picker["type"] == "datasource" and picker["query"] == "prometheus"
        assert picker["current"]["value"] == "${" + needed["name"] + "}"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                assert re.search(r"quotad_\w+|up\{", target["expr"]), target["expr"]
                used = set(re.findall(r"\$\{?(\w+)", target["expr"] + panel["description"]))
                assert used <= variables.keys(), (path.name, panel["title"], used - variables.keys())
        for variable in variables.values():
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == "${datasource}"
                assert set(re.findall(r"\$(\w+)", variable["definition"])) <= variables.keys()
    assert len(titles) == 5


def test_filters_cluster_company_node_where_a_dashboard_lists_many() -> None:
    boards = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (GRAFANA / "dashboards").glob("*.json")}
    offered = {uid: {v["name"] for v in b["templating"]["list"]} for uid, b in boards.items()}
    assert {"cluster", "companies"} <= offered["quotad-overview"] and {"cluster", "companies"} <= offered["quotad-idle"]
    assert "company" in offered["quotad-company"] and "cluster" in offered["quotad-health"]
    assert {"cluster", "node", "gpus"} <= offered["quotad-gpus"]
    for uid, board in boards.items():
        for name in offered[uid] - {"datasource", "gpus"}:
            assert any(f"${name}" in t["expr"] for p in board["panels"] for t in p["targets"]), (uid, name)


#: Series per GPU (label ``gpu``): 2,000 of them on one panel is unreadable and slow.
PER_GPU = re.compile(r"\bquotad_gpu_(util|recent_util|recent_idle_ratio|fb_used|fb_free|power_usage|sm_clock|"
                     r"mem_copy_util|idle_streak_seconds|allocated|processes)\b")


def test_per_gpu_panels_are_bounded() -> None:
    """A per-GPU metric is either aggregated (sum/avg/count/max/min by something coarser) or cut to ``$gpus``
    series by topk/bottomk; never drawn one line per GPU of the whole programme."""
    module = dashboards_module()
    seen = 0
    for uid, title, expr in module.expressions():
        if not PER_GPU.search(expr):
            continue
        seen += 1
        bounded = re.match(r"\s*(topk|bottomk)\(\$gpus,", expr) or re.match(r"\s*(sum|avg|count|max|min)\b", expr)
        assert bounded, f"{uid} / {title}: {expr}"
    assert seen >= 4


def test_provisioning_points_at_the_dashboards() -> None:
    provider = (GRAFANA / "provisioning" / "dashboards" / "quotad.yaml").read_text(encoding="utf-8")
    assert "type: file" in provider and "path: /var/lib/grafana/dashboards/quotad" in provider


def test_expressions_cover_every_panel_target() -> None:
    module = dashboards_module()
    expressions = module.expressions()
    targets = sum(len(p["targets"]) for d in map(json.loads, module.render().values()) for p in d["panels"])
    assert len(expressions) == targets
