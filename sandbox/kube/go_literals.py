"""Go's `%#v` spellings of values, as field errors print what they reject (`map[string]string{"a":"b"}`)."""

from __future__ import annotations

import json
from typing import Any

from ack_compute.sandbox.kube.status import GoLiteral


def go_quote(text: Any) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def go_string_map(values: Any) -> str:
    if not values:
        return "map[string]string(nil)"
    items = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(values.items()))
    return "map[string]string{" + items + "}"


def go_strings(values: Any) -> GoLiteral:
    if not values:
        return GoLiteral("[]string(nil)")
    return GoLiteral("[]string{" + ", ".join(go_quote(v) for v in values) + "}")


def go_label_selector(selector: Any) -> GoLiteral:
    """%#v of a metav1.LabelSelector, as field errors print it (what is not an object prints as empty)."""
    selector = selector if isinstance(selector, dict) else {}
    expressions = [e if isinstance(e, dict) else {} for e in selector.get("matchExpressions") or []]
    if expressions:
        items = ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{go_quote(e.get('key') or '')}, Operator:"
            f"{go_quote(e.get('operator') or '')}, Values:{go_strings(e.get('values'))}}}"
            for e in expressions
        )
        expression_text = "[]v1.LabelSelectorRequirement{" + items + "}"
    else:
        expression_text = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(
        f"v1.LabelSelector{{MatchLabels:{go_string_map(selector.get('matchLabels'))}, "
        f"MatchExpressions:{expression_text}}}"
    )


def go_int_or_string(value: Any) -> GoLiteral:
    if isinstance(value, str):
        return GoLiteral(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}")
    return GoLiteral(f'intstr.IntOrString{{Type:0, IntVal:{int(value or 0)}, StrVal:""}}')
