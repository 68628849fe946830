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


def test_dashboards_are_well_formed_and_use_the_provisioned_datasource() -> None:
    provisioned = (GRAFANA / "provisioning" / "datasources" / "quotad.yaml").read_text(encoding="utf-8")
    (uid,) = re.findall(r"^\s+uid: (\S+)", provisioned, re.M)
    titles = set()
    for path in (GRAFANA / "dashboards").glob("*.json"):
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] == path.stem and board["title"] not in titles
        titles.add(board["title"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        uses_company = False
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid
                assert re.search(r"quotad_\w+|up\{", target["expr"]), target["expr"]
                uses_company |= "$company" in target["expr"]
        variables = {v["name"] for v in board["templating"]["list"]}
        assert uses_company == ("company" in variables), path.name
    assert len(titles) == 5


def test_provisioning_points_at_the_dashboards() -> None:
    provider = (GRAFANA / "provisioning" / "dashboards" / "quotad.yaml").read_text(encoding="utf-8")
    assert "type: file" in provider and "path: /var/lib/grafana/dashboards/quotad" in provider


def test_expressions_cover_every_panel_target() -> None:
    module = dashboards_module()
    expressions = module.expressions()
    targets = sum(len(p["targets"]) for d in map(json.loads, module.render().values()) for p in d["panels"])
    assert len(expressions) == targets
