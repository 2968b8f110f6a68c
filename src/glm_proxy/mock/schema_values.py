"""Derive a tool call's arguments from the tool's JSON schema and the user's message.

Pure and deterministic: the same schema and message always give the same arguments, so the mock
backend's tests (and the proxy's) can call ``derive_arguments`` to know what to expect.

Strategy:
- Every declared property is filled, required or not, in declaration order.
- Values come from "clues" read once from the message: capitalised words as places ("Seoul",
  "New York"), numbers (taken in order, each used once per call), ISO dates, e-mail addresses,
  URLs and file paths. A property's name says which clue fits (``location``/``city`` -> a place,
  ``query`` -> the message itself); an ``enum`` member named in the message wins over the first.
- Without a clue, a stable value that satisfies the schema: ``"example <name>"``, 1, 1.5, true,
  one array item, bounds (minimum, maxLength, minItems...) respected. ``pattern`` is not honoured.
- Unions (``anyOf``/``oneOf``/type lists) take their string branch when there is one, else the
  first non-null one. This mirrors the proxy's typing rule (a key that may be a string keeps the
  raw text), so a value rendered by GLM and parsed back by the proxy is equal to the one derived.
- Local ``$ref`` ("#/$defs/X") is followed; nesting deeper than ``MAX_DEPTH`` yields null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 24
MAX_REPEAT = 64
"""Cap on minItems / minProperties honoured, so a hostile schema cannot make huge values."""
MAX_SAFE_INTEGER = 2**53
"""Numbers in the message beyond this are not used (JSON readers may not keep them exactly)."""
MAX_LENGTH = 4096
"""Cap on minLength honoured."""


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


PLACE_WORDS = word_set(
    "location city place town country region destination origin address area where locality"
)
QUERY_WORDS = word_set("query q search text prompt question message input keyword term")
PATH_WORDS = word_set("path file filename filepath dir directory folder")
URL_WORDS = word_set("url uri link website href")
_NOT_PLACES = word_set(
    """i i'm i'd i'll a an the what what's whats how how's where where's when why who which is
    are am was were be can could would should will shall do does did please tell show give
    get find check let let's hi hello hey thanks thank ok okay yes no and or but if then
    also now today tomorrow my me we you your it its this that these those there here in on
    at for of to from"""
)
_DATE = re.compile(r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s\"'<>)]+")
_PATH = re.compile(r"(?:[\w.~-]*/[\w./~-]+|\b[\w-]+\.[A-Za-z][A-Za-z0-9]{0,4}\b)")
_NUMBER = re.compile(r"(?<![\w.])-?[0-9]+(?:\.[0-9]+)?(?![\w.]*\w)")
_CAPITALISED_RUN = re.compile(r"\b[A-Z][\w'\u2019-]*(?:\s+[A-Z][\w'\u2019-]*)*")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Clues:
    """What the user's message offers to fill arguments with."""

    text: str
    lowered: str
    places: tuple[str, ...]
    numbers: tuple[int | float, ...]
    dates: tuple[str, ...]
    emails: tuple[str, ...]
    urls: tuple[str, ...]
    paths: tuple[str, ...]


def read_clues(user_text: str) -> Clues:
    text = user_text.strip()
    urls = tuple(_URL.findall(text))
    emails = tuple(_EMAIL.findall(text))
    dates = tuple(_DATE.findall(text))
    rest = _DATE.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", text)))
    paths = tuple(p.rstrip(".") for p in _PATH.findall(rest) if not _NUMBER.fullmatch(p))
    numbers = tuple(n for n in map(_to_number, _NUMBER.findall(rest)) if abs(n) <= MAX_SAFE_INTEGER)
    return Clues(text, text.lower(), find_places(rest), numbers, dates, emails, urls, paths)


def find_places(text: str) -> tuple[str, ...]:
    """Runs of capitalised words that are not question words or pronouns, first seen first.

    A sentence's first word is capitalised anyway, so it is dropped from a run that opens a
    sentence ("Compare Seoul and Tokyo" -> Seoul, Tokyo); a one-word opening run ("Busan is
    far") counts only when there is no other place.
    """
    inner: list[str] = []
    openers: list[str] = []
    for match in _CAPITALISED_RUN.finditer(text):
        words = match.group().split()
        before = text[: match.start()].rstrip()
        bucket = inner
        if not before or before[-1] in ".!?:;":
            if len(words) > 1:
                words = words[1:]
            else:
                bucket = openers
        kept = [w for w in words if w.lower().strip("'\u2019") not in _NOT_PLACES]
        place = " ".join(_strip_possessive(w) for w in kept).strip()
        if place and place not in inner and place not in openers:
            bucket.append(place)
    return tuple(inner or openers)


def _strip_possessive(word: str) -> str:
    return re.sub(r"['\u2019]s$", "", word).strip("'\u2019-")


def name_words(name: str) -> list[str]:
    """``get_current_weather`` / ``getCurrentWeather`` -> ["get", "current", "weather"]."""
    parts = re.split(r"[^A-Za-z0-9]+", _CAMEL.sub("_", name))
    return [singular(p.lower()) for p in parts if p]


def singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def is_place_name(name: str) -> bool:
    return any(w in PLACE_WORDS for w in name_words(name))


def derive_arguments(
    schema: Mapping[str, Any], user_text: str, place: str | None = None
) -> dict[str, Any]:
    """The arguments a model would pass to a tool with this ``parameters`` schema.

    ``place`` overrides the place read from the message (the mock uses it to make one call per
    place mentioned, e.g. two ``get_weather`` calls for "Seoul and Tokyo").
    """
    if not isinstance(schema, Mapping):
        return {}
    clues = read_clues(user_text)
    deriver = _Deriver(schema, clues, (place,) if place else clues.places)
    value = deriver.value(schema, "", 0, 0)
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class _Deriver:
    root: Mapping[str, Any]
    clues: Clues
    places: tuple[str, ...]
    used_numbers: set[int] = field(default_factory=set)

    def value(self, schema: Any, name: str, variant: int, depth: int) -> Any:
        if depth > MAX_DEPTH or not isinstance(schema, Mapping):
            return None if depth > MAX_DEPTH else self.string({}, name, variant)
        if isinstance(schema.get("$ref"), str):
            return self.value(self.resolve(schema["$ref"]), name, variant, depth + 1)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return self.enum_member(enum, variant)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                return self.value(pick_branch(branches), name, variant, depth + 1)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.value(merge_all_of(schema, all_of), name, variant, depth + 1)
        kind = pick_type(schema)
        if kind == "object":
            return self.object(schema, variant, depth)
        if kind == "array":
            return self.array(schema, name, variant, depth)
        if kind in ("integer", "number"):
            return self.number(schema, kind == "integer", variant)
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return self.string(schema, name, variant)

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def enum_member(self, enum: list[Any], variant: int) -> Any:
        members = [m for m in enum if m is not None] or enum
        for member in members:
            if isinstance(member, str) and member and _mentions(self.clues.lowered, member):
                return member
        return members[variant % len(members)]

    def object(self, schema: Mapping[str, Any], variant: int, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for key, sub in properties.items():
                result[str(key)] = self.value(sub, str(key), variant, depth + 1)
        required = schema.get("required")
        for key in required if isinstance(required, list) else []:
            if isinstance(key, str) and key not in result:
                result[key] = self.string({}, key, variant)
        extra = schema.get("additionalProperties")
        wanted = _int_or(schema.get("minProperties"), 0)
        for i in range(len(result), min(wanted, MAX_REPEAT)):
            key = f"key{i + 1}"
            sub = extra if isinstance(extra, Mapping) else {"type": "string"}
            result[key] = self.value(sub, key, variant, depth + 1)
        return result

    def array(self, schema: Mapping[str, Any], name: str, variant: int, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft-4 tuple form
            prefix, items = items, schema.get("additionalItems")
        prefix = prefix if isinstance(prefix, list) else []
        count = max(_int_or(schema.get("minItems"), 0), 1, len(prefix))
        item_name = singular(name)
        if (
            is_place_name(item_name)
            and isinstance(items, Mapping)
            and pick_type(items) in ("string", None)
        ):
            count = max(count, len(self.places))
        max_items = _int_or(schema.get("maxItems"), -1)
        if max_items >= 0:
            count = min(count, max_items)
        count = min(count, MAX_REPEAT)
        result = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            if not isinstance(sub, Mapping):
                sub = {}
            result.append(self.value(sub, item_name, variant + i, depth + 1))
        return result

    def number(self, schema: Mapping[str, Any], integer: bool, variant: int) -> int | float:
        for i, found in enumerate(self.clues.numbers):
            if i in self.used_numbers or (integer and not isinstance(found, int)):
                continue
            if _in_bounds(found, schema, integer):
                self.used_numbers.add(i)
                return found
        return _stable_number(schema, integer, variant)

    def string(self, schema: Mapping[str, Any], name: str, variant: int) -> str:
        text = self.pick_string(schema, name, variant)
        max_length = _int_or(schema.get("maxLength"), -1)
        if max_length >= 0:
            text = text[:max_length]
        min_length = min(_int_or(schema.get("minLength"), 0), MAX_LENGTH)
        return text + "x" * (min_length - len(text))

    def pick_string(self, schema: Mapping[str, Any], name: str, variant: int) -> str:
        clues = self.clues
        fmt = schema.get("format")
        words = set(name_words(name))
        if fmt == "date" or (fmt is None and "date" in words):
            return _nth(clues.dates, variant) or "2025-01-01"
        if fmt == "date-time":
            return (_nth(clues.dates, variant) or "2025-01-01") + "T12:00:00Z"
        if fmt == "time":
            return "12:00:00"
        if fmt == "email" or "email" in words:
            return _nth(clues.emails, variant) or "user@example.com"
        if fmt in ("uri", "url", "iri", "uri-reference") or words & URL_WORDS:
            return _nth(clues.urls, variant) or "https://example.com"
        if fmt == "uuid":
            return "00000000-0000-4000-8000-" + f"{variant:012d}"
        if fmt in ("hostname", "idn-hostname"):
            return "example.com"
        if fmt == "ipv4":
            return "127.0.0.1"
        if fmt == "ipv6":
            return "::1"
        if words & PLACE_WORDS:
            return _nth(self.places, variant) or ("Seoul" if variant == 0 else f"Seoul {variant}")
        if words & PATH_WORDS:
            return _nth(clues.paths, variant) or "README.md"
        if words & QUERY_WORDS and clues.text:
            return clues.text if variant == 0 else f"{clues.text} {variant + 1}"
        label = " ".join(name_words(name)) or "value"
        return f"example {label}" + (f" {variant + 1}" if variant else "")


def pick_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        names = [k for k in kind if isinstance(k, str)]
        if "string" in names:
            return "string"
        non_null = [k for k in names if k != "null"]
        return non_null[0] if non_null else ("null" if names else None)
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def pick_branch(branches: Sequence[Any]) -> Any:
    """The string branch of a union if any (see the module docstring), else the first non-null."""
    usable = [b for b in branches if isinstance(b, Mapping)]
    for branch in usable:
        if _is_string_schema(branch):
            return branch
    for branch in usable:
        if pick_type(branch) != "null":
            return branch
    return usable[0] if usable else {}


def merge_all_of(schema: Mapping[str, Any], parts: Sequence[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[Any] = list(merged.get("required") or [])
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                properties.update(value)
            elif key == "required" and isinstance(value, list):
                required += [r for r in value if r not in required]
            else:
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _is_string_schema(schema: Mapping[str, Any]) -> bool:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return all(isinstance(m, str) for m in enum if m is not None)
    if "const" in schema:
        return isinstance(schema["const"], str)
    return pick_type(schema) == "string"


def _mentions(lowered_text: str, member: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(member.lower())}(?!\w)", lowered_text) is not None


def _nth(values: Sequence[str], index: int) -> str | None:
    return values[index] if index < len(values) else None


def _to_number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _real(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a usable number (bools are not)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _int_or(value: Any, default: int) -> int:
    number = _real(value)
    return int(number) if number is not None and number >= 0 else default


def _in_bounds(value: float, schema: Mapping[str, Any], integer: bool) -> bool:
    low, high = _bounds(schema, integer)
    multiple = _real(schema.get("multipleOf"))
    if multiple is not None and multiple > 0 and (value / multiple) % 1 != 0:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _bounds(schema: Mapping[str, Any], integer: bool) -> tuple[float | None, float | None]:
    """Inclusive bounds; exclusive ones are moved inwards by 1 (integers) or 0.5 (numbers)."""
    step = 1 if integer else 0.5
    low = _real(schema.get("minimum"))
    high = _real(schema.get("maximum"))
    exclusive_low = _real(schema.get("exclusiveMinimum"))
    exclusive_high = _real(schema.get("exclusiveMaximum"))
    if exclusive_low is not None:
        low = max(low if low is not None else -math.inf, exclusive_low + step)
    if exclusive_high is not None:
        high = min(high if high is not None else math.inf, exclusive_high - step)
    if integer:
        low = math.ceil(low) if low is not None else None
        high = math.floor(high) if high is not None else None
    return low, high


def _stable_number(schema: Mapping[str, Any], integer: bool, variant: int) -> int | float:
    low, high = _bounds(schema, integer)
    value: float = (1 if integer else 1.5) + variant
    if low is not None and high is not None and not low <= value <= high:
        value = (low + high) / 2
    elif low is not None and value < low:
        value = low + variant
    elif high is not None and value > high:
        value = high - variant
    multiple = _real(schema.get("multipleOf"))
    if multiple is not None and multiple > 0:
        value = math.ceil(value / multiple) * multiple
        if high is not None and value > high:
            value -= multiple
    return int(value) if integer else float(value)
