"""Label and field selectors with the apimachinery grammar and error texts, so bad selectors fail the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ack_compute.sandbox.kube.validation import label_key, label_value


class _Tok(Enum):
    ERROR = "error"
    END = "end"
    CLOSED_PAR = ")"
    COMMA = ","
    DOES_NOT_EXIST = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER_THAN = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS_THAN = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN_PAR = "("


_SYMBOLS = {
    "!": _Tok.DOES_NOT_EXIST,
    "!=": _Tok.NOT_EQUALS,
    "(": _Tok.OPEN_PAR,
    ")": _Tok.CLOSED_PAR,
    ",": _Tok.COMMA,
    "=": _Tok.EQUALS,
    "==": _Tok.DOUBLE_EQUALS,
    ">": _Tok.GREATER_THAN,
    "<": _Tok.LESS_THAN,
}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOT_IN}
_SPECIAL = set("=!(),><")
_SPACE = set(" \t\r\n")
# Verbatim, quotes and all, from labels.Parser.parseOperator.
_OPERATOR_EXPECTED = "'=', '!=', '==', 'in', notin'"


def _lex(text: str) -> list[tuple[_Tok, str]]:
    items: list[tuple[_Tok, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        if pos >= len(text):
            items.append((_Tok.END, ""))
            return items
        if text[pos] in _SPECIAL:
            best: tuple[_Tok, str] | None = None
            buffer = ""
            while pos < len(text) and text[pos] in _SPECIAL:
                candidate = buffer + text[pos]
                if candidate in _SYMBOLS:
                    buffer = candidate
                    best = (_SYMBOLS[candidate], candidate)
                    pos += 1
                else:
                    break
            if best is None:
                items.append((_Tok.ERROR, f"error expected: keyword found '{buffer + text[pos]}'"))
                pos += 1
            else:
                items.append(best)
            continue
        start = pos
        while pos < len(text) and text[pos] not in _SPACE and text[pos] not in _SPECIAL:
            pos += 1
        word = text[start:pos]
        items.append((_KEYWORDS.get(word, _Tok.IDENTIFIER), word))


class SelectorError(ValueError):
    """A selector that does not parse; the message is the apiserver's."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, =, ==, !=, exists, !, gt, lt
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "in" | "=" | "==":
                return present and value in self.values
            case "notin" | "!=":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case "gt" | "lt":
                if not present:
                    return False
                try:
                    number = int(value or "")
                except ValueError:
                    return False
                bound = int(self.values[0])
                return number > bound if self.operator == "gt" else number < bound
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def lookahead(self, values: bool) -> tuple[_Tok, str]:
        tok, lit = self.items[self.position]
        if values and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.IDENTIFIER
        return tok, lit

    def consume(self, values: bool) -> tuple[_Tok, str]:
        result = self.lookahead(values)
        self.position += 1
        if self.position >= len(self.items):
            self.position = len(self.items) - 1
        return result

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in (_Tok.IDENTIFIER, _Tok.DOES_NOT_EXIST):
                try:
                    requirements.append(self.requirement())
                except SelectorError as error:
                    raise SelectorError(f"unable to parse requirement: {error}") from None
                tok, lit = self.consume(True)
                if tok is _Tok.END:
                    return requirements
                if tok is _Tok.COMMA:
                    tok2, lit2 = self.lookahead(True)
                    if tok2 not in (_Tok.IDENTIFIER, _Tok.DOES_NOT_EXIST):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok is _Tok.END:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        key, operator = self.key_and_operator()
        if operator in ("exists", "!"):
            return _new_requirement(key, operator, [])
        operator = self.operator()
        values = self.value_set() if operator in ("in", "notin") else self.exact_value()
        return _new_requirement(key, operator, values)

    def key_and_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self.consume(True)
        if tok is _Tok.DOES_NOT_EXIST:
            operator = "!"
            tok, lit = self.consume(True)
        if tok is not _Tok.IDENTIFIER:
            raise SelectorError(f"found '{lit}', expected: identifier")
        _check_key(lit)
        next_tok, _ = self.lookahead(True)
        if next_tok in (_Tok.END, _Tok.COMMA) and operator != "!":
            operator = "exists"
        return lit, operator

    def operator(self) -> str:
        tok, lit = self.consume(False)
        names = {
            _Tok.IN: "in",
            _Tok.EQUALS: "=",
            _Tok.DOUBLE_EQUALS: "==",
            _Tok.GREATER_THAN: "gt",
            _Tok.LESS_THAN: "lt",
            _Tok.NOT_IN: "notin",
            _Tok.NOT_EQUALS: "!=",
        }
        if tok not in names:
            raise SelectorError(f"found '{lit}', expected: {_OPERATOR_EXPECTED}")
        return names[tok]

    def value_set(self) -> list[str]:
        tok, lit = self.consume(True)
        if tok is not _Tok.OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok in (_Tok.IDENTIFIER, _Tok.COMMA):
            values = self.identifiers()
            closing, _ = self.consume(True)
            if closing is not _Tok.CLOSED_PAR:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok is _Tok.CLOSED_PAR:
            self.consume(True)
            return [""]
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self.consume(True)
            if tok is _Tok.IDENTIFIER:
                _add(values, lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 is _Tok.COMMA:
                    continue
                if tok2 is _Tok.CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok is _Tok.COMMA:
                if not values:
                    _add(values, "")
                tok2, _ = self.lookahead(True)
                if tok2 is _Tok.CLOSED_PAR:
                    _add(values, "")
                    return values
                if tok2 is _Tok.COMMA:
                    self.consume(True)
                    _add(values, "")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        tok, _ = self.lookahead(True)
        if tok in (_Tok.END, _Tok.COMMA):
            return [""]
        tok, lit = self.consume(True)
        if tok is _Tok.IDENTIFIER:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def _check_key(key: str) -> None:
    errors = label_key(key)
    if errors:
        raise SelectorError(f"invalid label key {_quote(key)}: {'; '.join(errors)}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    _check_key(key)
    if operator in ("in", "notin") and not values:
        raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
    if operator in ("exists", "!") and values:
        raise SelectorError("values set must be empty for exists and does not exist")
    if operator in ("=", "==", "!=") and len(values) != 1:
        raise SelectorError("exact-match compatibility requires one single value")
    if operator in ("gt", "lt"):
        if len(values) != 1:
            raise SelectorError("for 'Gt', 'Lt' operators, exactly one value is required")
        try:
            int(values[0])
        except ValueError:
            raise SelectorError("for 'Gt', 'Lt' operators, the value must be an integer") from None
    for value in values:
        errors = label_value(value)
        if errors:
            raise SelectorError(f"invalid label value: {_quote(value)}: at key: {_quote(key)}: {'; '.join(errors)}")
    return Requirement(key, operator, tuple(sorted(values)))


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def parse_label_selector(text: str | None) -> LabelSelector:
    """labels.Parse: the full set-based grammar; raises SelectorError with the apiserver's message."""
    if not text:
        return LabelSelector()
    return LabelSelector(tuple(_Parser(text).parse()))


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str
    negate: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        actual = fields.get(self.field, "")
        return actual != self.value if self.negate else actual == self.value


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(term.matches(fields) for term in self.terms)

    def value_of(self, field: str) -> str | None:
        """The exact value required for a field (used to name the object a list targets)."""
        for term in self.terms:
            if term.field == field and not term.negate:
                return term.value
        return None


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current = ""
    escaped = False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == ",":
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    escaped = False
    for index, char in enumerate(term):
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
            continue
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


def _unescape(value: str) -> str:
    out = ""
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(f"invalid field selector: unescaped {char} must be escaped")
        else:
            out += char
    if escaped:
        raise SelectorError("invalid field selector: unterminated escape sequence")
    return out


def parse_field_selector(text: str | None, supported: frozenset[str]) -> FieldSelector:
    """fields.ParseSelector plus the per-kind field label conversion (unknown fields are a bad request)."""
    if not text:
        return FieldSelector()
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = split
        terms.append(FieldTerm(field, _unescape(value), operator == "!="))
    for term in terms:
        if term.field not in supported:
            raise SelectorError(f"field label not supported: {term.field}")
    return FieldSelector(tuple(terms))


# --- metav1.LabelSelector objects ---------------------------------------------------------------------------

_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector(selector: Any) -> LabelSelector | None:
    """metav1.LabelSelectorAsSelector: None for a missing selector (it selects nothing), an empty LabelSelector
    for `{}` (it selects everything); raises SelectorError when labels.NewRequirement rejects a requirement."""
    if selector is None:
        return None
    if not isinstance(selector, dict):
        raise SelectorError("selector must be an object")
    requirements: list[Requirement] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append(_new_requirement(key, "=", [str(value)]))
    for expression in selector.get("matchExpressions") or []:
        expression = expression if isinstance(expression, dict) else {}
        key, operator = expression.get("key") or "", _SELECTOR_OPERATORS.get(expression.get("operator") or "")
        if operator is None:
            raise SelectorError(f"{expression.get('operator')!r} is not a valid pod selector operator")
        values = list(dict.fromkeys(str(v) for v in expression.get("values") or []))
        requirements.append(_new_requirement(key, operator, values))
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


def selector_matches(selector: Any, labels: Mapping[str, str] | None) -> bool | None:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); None when the selector does not convert.
    A missing selector matches nothing, an empty one everything."""
    try:
        return selects(label_selector(selector), labels)
    except SelectorError:
        return None


def selector_string(selector: LabelSelector | None) -> str:
    """labels.Selector.String(): what the scale subresource reports in status.selector."""
    if selector is None:
        return ""
    parts = []
    for requirement in selector.requirements:
        values = ",".join(requirement.values)
        parts.append(
            {
                "=": f"{requirement.key}={values}",
                "in": f"{requirement.key} in ({values})",
                "notin": f"{requirement.key} notin ({values})",
                "exists": requirement.key,
                "!": f"!{requirement.key}",
            }[requirement.operator]
        )
    return ",".join(parts)


def selects(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    return selector is not None and selector.matches(labels)
