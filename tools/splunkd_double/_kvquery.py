"""The KV store's query language, the subset worth having in a test double.

Splunk's KV store takes MongoDB-style queries in ``query=`` (JSON): field equality, the
comparison operators ``$gt $gte $lt $lte $ne $in $nin $exists $regex`` and the logical
``$and $or $not``; ``sort=field[:1|:-1][,...]``, ``skip``, ``limit`` and
``fields=a,b`` (include) / ``fields=a:0`` (exclude). Anything else raises ``QueryError``
(answered as 400), so a test never silently relies on an operator the double ignores.
"""
from __future__ import annotations

import json
import re


class QueryError(ValueError):
    pass


def parse_query(text):
    if text in (None, ""):
        return {}
    try:
        query = json.loads(text)
    except ValueError as exc:
        raise QueryError("Invalid query: %s" % exc) from None
    if not isinstance(query, dict):
        raise QueryError("Invalid query: a query is a JSON object")
    return query


def _lookup(doc, field):
    value = doc
    for part in field.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return False, None
    return True, value


def _comparable(a, b):
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return isinstance(a, str) and isinstance(b, str)


def _equal(value, wanted):
    if isinstance(value, list) and not isinstance(wanted, list):
        return any(_equal(item, wanted) for item in value)
    if isinstance(value, bool) or isinstance(wanted, bool):
        return value is wanted
    return value == wanted


def _compare(op, value, wanted):
    if isinstance(value, list):
        return any(_compare(op, item, wanted) for item in value)
    if not _comparable(value, wanted):
        return False
    if op == "$gt":
        return value > wanted
    if op == "$gte":
        return value >= wanted
    if op == "$lt":
        return value < wanted
    return value <= wanted


def _match_condition(doc, field, condition):
    found, value = _lookup(doc, field)
    if not isinstance(condition, dict) or not any(k.startswith("$") for k in condition):
        return found and _equal(value, condition)
    for op, arg in condition.items():
        if op in ("$gt", "$gte", "$lt", "$lte"):
            if not found or not _compare(op, value, arg):
                return False
        elif op == "$ne":
            if found and _equal(value, arg):
                return False
        elif op == "$in":
            if not isinstance(arg, list):
                raise QueryError("$in needs an array")
            if not found or not any(_equal(value, item) for item in arg):
                return False
        elif op == "$nin":
            if not isinstance(arg, list):
                raise QueryError("$nin needs an array")
            if found and any(_equal(value, item) for item in arg):
                return False
        elif op == "$exists":
            if bool(arg) != found:
                return False
        elif op == "$regex":
            if not found or not isinstance(value, str) or not re.search(str(arg), value):
                return False
        elif op == "$not":
            if _match_condition(doc, field, arg):
                return False
        else:
            raise QueryError("Unsupported query operator %s" % op)
    return True


def matches(doc, query):
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(doc, sub) for sub in _subqueries(key, condition)):
                return False
        elif key == "$or":
            if not any(matches(doc, sub) for sub in _subqueries(key, condition)):
                return False
        elif key.startswith("$"):
            raise QueryError("Unsupported query operator %s" % key)
        elif not _match_condition(doc, key, condition):
            return False
    return True


def _subqueries(op, condition):
    if not isinstance(condition, list) or not all(isinstance(q, dict) for q in condition):
        raise QueryError("%s needs an array of queries" % op)
    return condition


def _sort_key(value):
    # MongoDB orders types: missing/null < numbers < strings < objects < arrays < booleans.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, value)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, dict):
        return (3, json.dumps(value, sort_keys=True))
    return (4, json.dumps(value, sort_keys=True))


def apply_sort(docs, sort):
    if not sort:
        return docs
    specs = []
    for part in str(sort).split(","):
        part = part.strip()
        if not part:
            continue
        field, _, direction = part.partition(":")
        if direction not in ("", "1", "-1"):
            raise QueryError("Invalid sort direction in %r" % part)
        specs.append((field, direction == "-1"))
    for field, descending in reversed(specs):
        docs = sorted(docs, key=lambda d, f=field: _sort_key(_lookup(d, f)[1]), reverse=descending)
    return docs


def apply_fields(doc, fields):
    if not fields:
        return doc
    include, exclude = [], []
    for part in str(fields).split(","):
        name, _, flag = part.strip().partition(":")
        if not name:
            continue
        (exclude if flag == "0" else include).append(name)
    if include and exclude and exclude != ["_key"]:
        raise QueryError("Cannot mix included and excluded fields")
    if include:
        out = {k: v for k, v in doc.items() if k in include}
        if "_key" not in exclude and "_key" in doc:
            out["_key"] = doc["_key"]
        return out
    return {k: v for k, v in doc.items() if k not in exclude}


def to_int(value, name, default):
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise QueryError("%s must be an integer" % name) from None


def run(docs, query=None, sort=None, skip=None, limit=None, fields=None):
    """Documents matching ``query`` (a dict), sorted, skipped, limited and projected."""
    selected = [d for d in docs if matches(d, query or {})]
    selected = apply_sort(selected, sort)
    skip_n = to_int(skip, "skip", 0)
    limit_n = to_int(limit, "limit", 0)
    selected = selected[skip_n:]
    if limit_n > 0:
        selected = selected[:limit_n]
    return [apply_fields(d, fields) for d in selected]
