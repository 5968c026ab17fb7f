"""The OpenAPI 3.1 description of the public, read-only API (``/api/openapi.json``).

Built from the same constants the handlers use (:data:`bot.public.catalogue.API_FIELDS`, the
vocabularies, the filter names), so the description cannot drift from the code; a test
calls every documented path and checks the answer against the documented keys.
"""
from __future__ import annotations

from typing import Any

from bot.public.catalogue import API_FIELDS, FILTER_PARAMS, LIST_API_FIELDS, SORTS
from bot.registry.record import FIELDS
from bot.registry.vocabulary import (
    CHOICES,
    MUNICIPALITIES,
    PARTICIPANT_KEYS,
    REGION_KEYS,
    SECTOR_KEYS,
    STATUS_KEYS,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

_FIELD_DOCS: dict[str, str] = {
    "id": "Stable numeric id.",
    "slug": "Stable name in the entry's address (/initiativ/{slug}).",
    "url": "The entry's public page.",
    **{f.key: f.doc for f in FIELDS},
    "sector": "Derived from participants: monosektoriel or the cross-sector combination.",
    "last_confirmed_at": "When the contact last confirmed the entry (UTC).",
    "updated_at": "When the entry last changed (UTC).",
}

_ENUMS: dict[str, tuple[str, ...]] = {
    **{k: tuple(t.key for t in terms) for k, terms in CHOICES.items()},
    "municipalities": MUNICIPALITIES, "sector": SECTOR_KEYS,
}

_FILTER_ENUMS: dict[str, tuple[str, ...]] = {
    "status": STATUS_KEYS, "region": REGION_KEYS, "municipality": MUNICIPALITIES,
    "participant": PARTICIPANT_KEYS, "sector": SECTOR_KEYS,
    "evaluation": tuple(t.key for t in CHOICES["evaluation_status"]),
    "pro": tuple(t.key for t in CHOICES["pro"]),
}


def _field_schema(key: str) -> dict[str, Any]:
    doc = _FIELD_DOCS.get(key, "")
    if key == "id":
        return {"type": "integer", "description": doc}
    if key in LIST_API_FIELDS:
        items: dict[str, Any] = {"type": "string"}
        if key in _ENUMS:
            items["enum"] = list(_ENUMS[key])
        return {"type": "array", "items": items, "description": doc}
    schema: dict[str, Any] = {"type": ["string", "null"], "description": doc}
    if key in ("slug", "url", "title"):
        schema["type"] = "string"
    if key in _ENUMS:
        schema["enum"] = [*_ENUMS[key], None]
    if key in ("last_confirmed_at", "updated_at"):
        schema["format"] = "date-time"
    if key in ("url", "evaluation_url", "website"):
        schema["format"] = "uri"
    return schema


def filter_parameters() -> list[dict[str, Any]]:
    """The catalogue's filters as query parameters (repeatable: any value matches)."""
    params: list[dict[str, Any]] = [{
        "name": "q", "in": "query", "required": False,
        "description": "Words that must all occur (case-insensitive) in title, description, "
                       "organisation, patient groups or technology.",
        "schema": {"type": "string", "maxLength": 200}}]
    for name in FILTER_PARAMS:
        items: dict[str, Any] = {"type": "string"}
        if name in _FILTER_ENUMS:
            items["enum"] = list(_FILTER_ENUMS[name])
        params.append({
            "name": name, "in": "query", "required": False, "explode": True,
            "style": "form",
            "description": f"Only entries with this {name.replace('_', ' ')}; repeat the "
                           "parameter to allow several values.",
            "schema": {"type": "array", "items": items}})
    params.append({"name": "sort", "in": "query", "required": False,
                   "schema": {"type": "string", "enum": list(SORTS), "default": "title"}})
    return params


def _stats_schema() -> dict[str, Any]:
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    shares = {"type": "object", "additionalProperties": {"type": "number"}}
    keys = ("total", "by_status", "ongoing", "ended", "by_participant", "monosectoral",
            "cross_sectoral", "by_sector", "by_region", "by_start_year", "percent")
    props: dict[str, Any] = {
        "total": {"type": "integer"}, "ongoing": {"type": "integer"},
        "ended": {"type": "integer"}, "monosectoral": {"type": "integer"},
        "cross_sectoral": {"type": "integer"},
        "by_status": counts, "by_participant": counts, "by_sector": counts,
        "by_region": counts, "by_start_year": counts,
        "percent": {"type": "object", "description": "Shares in percent of all entries "
                    "(one decimal), for the same keys.",
                    "properties": {k: shares for k in ("by_status", "by_participant",
                                                       "by_sector", "by_region")}
                    | {k: {"type": "number"} for k in ("ongoing", "ended", "monosectoral",
                                                       "cross_sectoral")}},
    }
    return {"type": "object", "required": list(keys), "properties": props}


def build_openapi(base_url: str, licence: str = "CC BY 4.0",
                  licence_url: str = "https://creativecommons.org/licenses/by/4.0/"
                  ) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the public API (the data licence in ``info``)."""
    initiative = {
        "type": "object", "required": list(API_FIELDS), "additionalProperties": False,
        "properties": {key: _field_schema(key) for key in API_FIELDS},
    }
    page_keys = ("total", "limit", "offset", "next", "previous", "items")
    page = {
        "type": "object", "required": list(page_keys),
        "properties": {
            "total": {"type": "integer", "description": "Entries matching the filters."},
            "limit": {"type": "integer"}, "offset": {"type": "integer"},
            "next": {"type": ["string", "null"], "description": "URL of the next page."},
            "previous": {"type": ["string", "null"]},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Initiative"}},
        },
    }
    error = {"type": "object", "required": ["error"],
             "properties": {"error": {"type": "string"}}}
    json_ok = {"200": {"description": "OK"}}

    def ok(schema_ref: str) -> dict[str, Any]:
        return {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Det telemedicinske landkort — public API",
            "version": "1.0.0",
            "description": "Read-only access to every published entry of the Danish "
                           "telemedicine map and to MedCom's statistics. No key needed; CORS "
                           "is open.",
            "license": {"name": licence, "url": licence_url},
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": {
            "/api/initiatives": {"get": {
                "summary": "Published initiatives, filtered and paged",
                "operationId": "listInitiatives",
                "parameters": [
                    *filter_parameters(),
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT}},
                    {"name": "offset", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 0, "default": 0}},
                ],
                "responses": ok("InitiativePage")
                | {"400": {"description": "Bad limit or offset", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            }},
            "/api/initiatives/{slug}": {"get": {
                "summary": "One published initiative",
                "operationId": "getInitiative",
                "parameters": [{"name": "slug", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": ok("Initiative") | {
                    "301": {"description": "The entry was merged into another; Location "
                                           "points to it."},
                    "404": {"description": "No such entry", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}},
            }},
            "/api/statistics": {"get": {
                "summary": "MedCom's key figures for all published initiatives",
                "operationId": "getStatistics",
                "responses": ok("Statistics"),
            }},
            "/export.csv": {"get": {
                "summary": "Published initiatives as CSV (UTF-8 with BOM, comma separated; "
                           "list values joined with '; '; vocabulary labels in the "
                           "requested language)",
                "operationId": "exportCsv",
                "parameters": [*filter_parameters(),
                               {"name": "lang", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": ["da", "en"]}}],
                "responses": {"200": {"description": "CSV file; the header row holds the "
                                                     "same field names as the JSON API.",
                                      "content": {"text/csv": {"schema": {"type": "string"}}}}},
            }},
            "/api/openapi.json": {"get": {
                "summary": "This description", "operationId": "getOpenApi",
                "responses": json_ok,
            }},
        },
        "components": {"schemas": {
            "Initiative": initiative, "InitiativePage": page, "Statistics": _stats_schema(),
            "Error": error,
        }},
    }
