"""CKAN package JSON (``package_show`` / ``package_search`` results) mapped onto the plugin's dataset fields.

Mapping (CKAN field -> dataset field):

- ``name`` (the URL slug; ``id`` if absent) -> ``id``
- ``title`` / ``notes`` -> ``title_ja``/``description_ja`` when the text contains Japanese script, else the
  ``_en`` fields; extras ``title_ja``, ``title_en``, ``description_ja``, ``description_en`` override
- ``organization.name`` -> ``holder`` (created or refreshed), ``organization.title`` -> the holder's name
- ``author`` (else the organization's title) -> ``publisher``; ``maintainer_email`` (else ``author_email``)
  -> ``contact_email``; ``url`` -> ``url``
- ``license_id`` -> ``licence`` through ``CKAN_LICENCES`` (CKAN's default licence list; its unversioned
  "cc-by" is taken as CC-BY-4.0) or as an SPDX id when it already is one; anything else (``other-closed``,
  ``notspecified`` ...) keeps ``license_title`` as ``licence_name``, so the uses must then be given in extras
- ``resources[].size`` (bytes) summed -> ``size_bytes`` when any resource states a size
- ``tags[].name`` -> ``domains`` unless a ``domains`` extra is given; ``language`` -> ``languages``
- ``extras`` (a list of ``{key, value}``, or fields at the top level as ckanext-scheming writes them) supply
  the rest: ``languages``, ``modality``, ``size_tokens``, ``training``, ``commercial``, ``derivatives``,
  ``access_mode`` (default ``download``: a CKAN resource is a download), ``pii``, ``copyright``, ``price``.
  Extras with other keys are ignored: CKAN extras are free-form, unlike the columns of our own CSV.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from quotad.plugins.data.records import FieldProblem

__all__ = ["CKAN_LICENCES", "ckan_packages", "package_to_raw"]

CKAN_LICENCES = {
    "cc-by": "CC-BY-4.0",
    "cc-by-sa": "CC-BY-SA-4.0",
    "cc-zero": "CC0-1.0",
    "cc-nc": "CC-BY-NC-4.0",
    "odc-by": "ODC-By-1.0",
    "odc-odbl": "ODbL-1.0",
    "odc-pddl": "PDDL-1.0",
    "gfdl": "GFDL-1.3-or-later",
    "uk-ogl": "OGL-UK-3.0",
}
#: Keys read from extras (or the package's top level) as our own fields.
_EXTRA_FIELDS = (
    "languages",
    "language",
    "domains",
    "modality",
    "size_tokens",
    "training",
    "commercial",
    "derivatives",
    "access_mode",
    "pii",
    "copyright",
    "price",
    "title_ja",
    "title_en",
    "description_ja",
    "description_en",
)
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def ckan_packages(payload: Any) -> list[Any] | None:
    """The packages in a CKAN API answer, a bare package or a list of them; None when it is none of these."""
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict):
        return None
    if "result" in payload:
        result = payload["result"]
        if isinstance(result, dict) and isinstance(result.get("results"), list):
            return list(result["results"])
        return [result]
    if "name" in payload or "resources" in payload:
        return [payload]
    return None


def _extras(pkg: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {k: pkg[k] for k in _EXTRA_FIELDS if k in pkg and k != "language"}
    extras = pkg.get("extras") or []
    if isinstance(extras, dict):
        extras = [{"key": k, "value": v} for k, v in extras.items()]
    for item in extras if isinstance(extras, list) else []:
        if isinstance(item, dict) and item.get("key") in _EXTRA_FIELDS:
            found[str(item["key"])] = item.get("value")
    if "language" in found and "languages" not in found:
        found["languages"] = found.pop("language")
    return found


def _lang_field(text: str, stem: str) -> str:
    return f"{stem}_ja" if _JAPANESE.search(text) else f"{stem}_en"


def _licence(pkg: Mapping[str, Any]) -> dict[str, Any]:
    licence_id = str(pkg.get("license_id") or "").strip()
    title = str(pkg.get("license_title") or "").strip()
    if licence_id.lower() in CKAN_LICENCES:
        return {"licence": CKAN_LICENCES[licence_id.lower()]}
    if licence_id and not licence_id.lower().startswith(("other-", "notspecified")):
        return {"licence": licence_id}  # perhaps already an SPDX id; validated like any other
    return {"licence_name": title or licence_id}


def _size_bytes(resources: Any) -> int | None:
    sizes = []
    for res in resources if isinstance(resources, list) else []:
        size = res.get("size") if isinstance(res, dict) else None
        if isinstance(size, int) and not isinstance(size, bool):
            sizes.append(size)
        elif isinstance(size, str) and size.strip().isascii() and size.strip().isdigit() and len(size.strip()) < 40:
            sizes.append(int(size))
    return sum(sizes) if sizes else None  # a sum past what the ledger holds is refused by ``parse_size``


def package_to_raw(pkg: Any) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The raw dataset row for one package, and problems of the CKAN shape itself (field names as in CKAN)."""
    if not isinstance(pkg, dict):
        return {}, [FieldProblem("package", f"expected a JSON object, got {type(pkg).__name__}")]
    problems: list[FieldProblem] = []
    raw: dict[str, Any] = {"id": pkg.get("name") or pkg.get("id")}
    title, notes = str(pkg.get("title") or ""), str(pkg.get("notes") or "")
    if title:
        raw[_lang_field(title, "title")] = title
    if notes:
        raw[_lang_field(notes, "description")] = notes
    org = pkg.get("organization")
    org_title = ""
    if isinstance(org, dict) and org.get("name"):
        org_title = str(org.get("title") or org["name"])
        raw["holder"] = org["name"]
        raw[_lang_field(org_title, "holder_name")] = org_title
    else:
        problems.append(FieldProblem("organization", "required: the organization is the dataset's holder"))
    raw["publisher"] = pkg.get("author") or org_title
    raw["contact_email"] = pkg.get("maintainer_email") or pkg.get("author_email") or ""
    raw["url"] = pkg.get("url") or ""
    raw.update(_licence(pkg))
    raw["size_bytes"] = _size_bytes(pkg.get("resources"))
    tag_list = pkg.get("tags") or []
    if isinstance(tag_list, list):
        tags = [t.get("name") for t in tag_list if isinstance(t, dict) and t.get("name")]
        if tags:
            raw["domains"] = tags
    else:
        problems.append(FieldProblem("tags", f"expected a list of {{name: ...}}, got {type(tag_list).__name__}"))
    if pkg.get("language"):
        raw["languages"] = pkg["language"]
    raw["access_mode"] = "download"
    raw.update(_extras(pkg))
    return raw, problems
