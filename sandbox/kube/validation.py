"""Name, label and metadata validation with apimachinery's exact messages, so 422 bodies match the real server."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ack_compute.sandbox.kube.status import FieldError, forbidden, invalid, required

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL_RE = re.compile(DNS1123_LABEL_FMT)
_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT)

QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MAX = 63
_QUALIFIED_RE = re.compile(QUALIFIED_NAME_FMT)
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT)
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

NameValidator = Callable[[str, bool], list[str]]


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError, including its double space before the last example."""
    text = message
    if examples:
        text += " (e.g. '" + examples[0] + "'"
        for example in examples[1:]:
            text += ",  or '" + example + "'"
        text += ", "
    else:
        text += " ("
    return text + "regex used for validation is '" + fmt + "')"


_QUALIFIED_NAME_ERROR = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    QUALIFIED_NAME_FMT,
    "MyName",
    "my.name",
    "123-abc",
)


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


# apimachinery's messages (its errMsg constants with RegexError's examples), built once.
_DNS1123_LABEL_ERROR = _regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character",
    DNS1123_LABEL_FMT,
    "my-name",
    "123-abc",
)
_DNS1123_SUBDOMAIN_ERROR = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character",
    DNS1123_SUBDOMAIN_FMT,
    "example.com",
)
_LABEL_VALUE_ERROR = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character",
    LABEL_VALUE_FMT,
    "MyValue",
    "my_value",
    "12345",
)


def _length_and_pattern(value: str, limit: int, pattern: re.Pattern[str], error: str) -> list[str]:
    """The shape of IsDNS1123Label, IsDNS1123Subdomain and IsValidLabelValue: a length limit, then a regex."""
    errors = [max_len_error(limit)] if len(value) > limit else []
    if not pattern.fullmatch(value):
        errors.append(error)
    return errors


def dns1123_label(value: str) -> list[str]:
    return _length_and_pattern(value, DNS1123_LABEL_MAX, _LABEL_RE, _DNS1123_LABEL_ERROR)


def dns1123_subdomain(value: str) -> list[str]:
    return _length_and_pattern(value, DNS1123_SUBDOMAIN_MAX, _SUBDOMAIN_RE, _DNS1123_SUBDOMAIN_ERROR)


def _mask_trailing_dash(name: str) -> str:
    """A generateName prefix may end in '-'; validate it as if a suffix followed."""
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def _qualified_name(value: str) -> list[str]:
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + "must be non-empty")
        else:
            errors.extend("prefix part " + msg for msg in dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _QUALIFIED_NAME_ERROR
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part " + "must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errors.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_RE.fullmatch(name):
        errors.append("name part " + _QUALIFIED_NAME_ERROR)
    return errors


def label_value(value: str) -> list[str]:
    return _length_and_pattern(value, QUALIFIED_NAME_MAX, _LABEL_VALUE_RE, _LABEL_VALUE_ERROR)


def label_key(key: str) -> list[str]:
    return _qualified_name(key)


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid(path, labels, "must be a map of string to string")]
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors.extend(invalid(path, key, msg) for msg in label_key(key))
        errors.extend(invalid(path, value, msg) for msg in label_value(str(value)))
    return errors


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    if annotations is None:
        return []
    errors: list[FieldError] = []
    total = 0
    for key, value in annotations.items():
        errors.extend(invalid(path, key, msg) for msg in _qualified_name(key.lower()))
        total += len(key) + len(str(value))
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(
            FieldError("FieldValueTooLong", path, detail=f"must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes")
        )
    return errors


def validate_object_meta(meta: dict[str, Any], *, namespaced: bool, name_fn: NameValidator) -> list[FieldError]:
    """ValidateObjectMeta: name or generateName, namespace presence, labels and annotations."""
    errors: list[FieldError] = []
    name = meta.get("name") or ""
    generate_name = meta.get("generateName") or ""
    if generate_name:
        errors.extend(invalid("metadata.generateName", generate_name, msg) for msg in name_fn(generate_name, True))
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    else:
        errors.extend(invalid("metadata.name", name, msg) for msg in name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errors.append(required("metadata.namespace"))
        else:
            errors.extend(invalid("metadata.namespace", namespace, msg) for msg in dns1123_label(namespace))
    elif namespace:
        errors.append(forbidden("metadata.namespace", "not allowed on this type"))
    errors.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    errors.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    return errors


def validate_object_meta_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields may not change."""
    errors: list[FieldError] = []
    for key, path in (("name", "metadata.name"), ("namespace", "metadata.namespace"), ("uid", "metadata.uid")):
        if (new.get(key) or "") != (old.get(key) or ""):
            errors.append(invalid(path, new.get(key) or "", "field is immutable"))
    if (new.get("creationTimestamp") or None) != (old.get("creationTimestamp") or None):
        errors.append(invalid("metadata.creationTimestamp", new.get("creationTimestamp"), "field is immutable"))
    errors.extend(validate_labels(new.get("labels"), "metadata.labels"))
    errors.extend(validate_annotations(new.get("annotations"), "metadata.annotations"))
    return errors


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """unversioned ValidateLabelSelector (a selector that is not an object has nothing to check)."""
    if not isinstance(selector, dict):
        return []
    errors = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        item = f"{path}.matchExpressions[{index}]"
        expression = expression if isinstance(expression, dict) else {}
        operator, values = expression.get("operator") or "", expression.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(required(f"{item}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    forbidden(f"{item}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            errors.append(invalid(f"{item}.operator", operator, "not a valid selector operator"))
        key = expression.get("key") or ""
        errors.extend(invalid(f"{item}.key", key, msg) for msg in label_key(key))
    return errors
