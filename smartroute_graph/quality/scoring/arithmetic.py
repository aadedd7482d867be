"""Safe arithmetic: find the sums an answer states and recompute them, never with ``eval``.

:func:`check_arithmetic` finds claims such as ``17 * 23 = 391`` in prose and recomputes each
with :func:`safe_eval`, which evaluates numbers, operators and brackets only and refuses huge
powers before computing them. The scorer's ``math_accuracy`` dimension and its
``wrong_arithmetic`` penalty are built on these.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Final

from pydantic import BaseModel, ConfigDict

from smartroute_graph.core.errors import SmartRouteError

__all__ = [
    "MAX_CLAIMS",
    "MAX_EXPONENT",
    "MAX_EXPRESSION_CHARS",
    "MAX_RESULT_DIGITS",
    "ArithmeticClaim",
    "ExpressionError",
    "check_arithmetic",
    "safe_eval",
]


class ArithmeticClaim(BaseModel):
    """One arithmetic statement found in an answer, recomputed.

    Attributes:
        text: The statement as found (normalised), e.g. ``17 * 23 = 391``.
        ok: Whether every ``=`` in it holds.
        detail: For a wrong claim, what the left-hand side really equals; else ``correct``.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    ok: bool
    detail: str
    """For a wrong claim, what the left-hand side really equals."""


class ExpressionError(SmartRouteError, ValueError):
    """:func:`safe_eval` refused an expression: not plain arithmetic, or too large to compute."""


MAX_EXPRESSION_CHARS: Final = 200
MAX_EXPONENT: Final = 1000
MAX_RESULT_DIGITS: Final = 1000
_MAX_DEPTH = 40

_BIN_OPS: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_OPERATOR_SPELLINGS = str.maketrans({"×": "*", "·": "*", "÷": "/", "−": "-", "^": "**"})


def safe_eval(expression: str) -> int | float:
    """Evaluate plain arithmetic and nothing else.

    Numbers, ``+ - * / // % **`` (or ``^``, ``×``, ``÷``) and brackets are evaluated. Names,
    calls, attributes, strings and every other syntax are refused, and so is anything too
    large to compute quickly: ``9**9**9`` is refused at once, not computed.

    Args:
        expression: The arithmetic, e.g. ``"17 * (2 + 3)"``.

    Returns:
        The value, an ``int`` where every step stays whole.

    Raises:
        ExpressionError: The expression is not plain arithmetic, is over
            :data:`MAX_EXPRESSION_CHARS` characters, has an exponent over
            :data:`MAX_EXPONENT` or a result over :data:`MAX_RESULT_DIGITS` digits, divides
            by zero or has a non-real result.
    """
    text = expression.strip().translate(_OPERATOR_SPELLINGS)
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"expression is {len(text)} characters; the limit is {MAX_EXPRESSION_CHARS}"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"not an arithmetic expression: {text!r} ({exc})") from None
    return _evaluate(tree.body, 0)


def _evaluate(node: ast.expr, depth: int) -> int | float:
    if depth > _MAX_DEPTH:
        raise ExpressionError("expression nests too deeply")
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)  # True + True is not arithmetic in prose
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _evaluate(node.operand, depth + 1)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        left = _evaluate(node.left, depth + 1)
        right = _evaluate(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            result = _BIN_OPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("result too large") from None
        if not isinstance(result, int | float):  # (-8) ** 0.5 is complex
            raise ExpressionError("result is not a real number")
        if isinstance(result, float) and not math.isfinite(result):
            raise ExpressionError("result too large")
        if isinstance(result, int) and result.bit_length() > MAX_RESULT_DIGITS * 3.33:
            raise ExpressionError(f"result has more than {MAX_RESULT_DIGITS} digits")
        return result
    raise ExpressionError(
        f"{type(node).__name__} is not allowed: only numbers, + - * / // % ** and brackets are"
    )


def _check_power(base: float, exponent: float) -> None:
    # Refuse before computing: 9 ** 387420489 would take minutes and gigabytes.
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {exponent} is over the limit of {MAX_EXPONENT}")
    if abs(base) > 1 and abs(exponent) * math.log10(abs(base)) > MAX_RESULT_DIGITS:
        raise ExpressionError(f"result would have more than {MAX_RESULT_DIGITS} digits")


MAX_CLAIMS: Final = 24
"""At most this many arithmetic claims are recomputed per answer (the first and last half:
working steps and final answers), so a long table of sums cannot make scoring slow."""

_NUM = r"\d+(?:\.\d+)?"
_ATOM = rf"(?:\(\s*)*-?{_NUM}(?:\s*\))*"
_TERM = re.compile(rf"{_ATOM}(?:\s*[-+*/^]\s*{_ATOM})*")
# Runs of digits, operators and brackets around "=": a plain character class that the
# regex engine scans quickly; each run is then split into sides and checked. The possessive,
# bounded repeats keep a long run with no "=" from costing quadratic time.
_RUN = re.compile(r"[-(\d][\d \t.+\-*/^()]{0,120}+(?:[=≈][\d \t.+\-*/^()]{0,120}+)+")
_SENTENCE_DOT = re.compile(r"\.(?:[ \t]+|$)")
# "pages 10-20": an unspaced hyphen from a smaller to a larger number is a range.
_RANGE = re.compile(r"(?<![\d.])(\d+)-(\d+)(?![\d.])")
_BINARY_OP = re.compile(r"[\d)]\s*[-+*/^]\s*[(\-]*\s*\d")
_PLAIN_NUMBER = re.compile(r"\(*\s*-?\d+(?:\.(\d+))?\s*\)*")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_LATEX_NOISE = re.compile(r"\\[()\[\]]|\\left|\\right|\$|\\,|\\!")
_TIMES = re.compile(r"\\times|\\cdot|[×✕⋅·]|(?<=\d)\s+[xX]\s+(?=\d)")
_PY_POWER = re.compile(r"(?<=[\d)])\s*\*\*\s*(?=[\d(])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_OPERATOR_CHARS = frozenset("+-*/^%(")


def _normalise_math(text: str) -> str:
    # Each rewrite runs only when its trigger is present: most answers have none of them.
    if "\\" in text or "$" in text:
        text = _LATEX_FRAC.sub(r"(\1)/(\2)", text)
        text = text.replace("\\div", "/")
        text = _LATEX_NOISE.sub(" ", text)
    if "×" in text or "\\" in text or "x" in text or "X" in text or "·" in text or "⋅" in text:
        text = _TIMES.sub(" * ", text)
    text = text.replace("÷", "/").replace("−", "-")
    if "**" in text:
        text = _PY_POWER.sub("^", text)
        text = text.replace("**", " ")  # what is left of ** is markdown bold
    if "," in text:
        text = _THOUSANDS.sub("", text)
    return text


def _balanced_side(side: str) -> str | None:
    side = side.strip()
    # A claim inside brackets, "(17 * 23 = 391)", leaves a stray bracket on each end.
    while side.count("(") > side.count(")") and side.startswith("("):
        side = side[1:].strip()
    while side.count(")") > side.count("(") and side.endswith(")"):
        side = side[:-1].strip()
    if not side or side.count("(") != side.count(")") or not _TERM.fullmatch(side):
        return None
    return side


def _tolerance(a: float, b: float, sides: tuple[str, str], approximate: bool) -> float:
    tol = 1e-9 * max(1.0, abs(a), abs(b))
    for side in sides:
        literal = _PLAIN_NUMBER.fullmatch(side)
        if not literal:
            continue
        if literal.group(1):
            # "22 / 7 = 3.14": one unit in the last shown digit (rounded or truncated).
            tol = max(tol, 10.0 ** -len(literal.group(1)))
        elif approximate:
            tol = max(tol, 0.5)  # "≈ 3": rounded to a whole number
    if approximate:
        tol = max(tol, 0.01 * max(abs(a), abs(b)))
    return tol


def _candidates(text: str) -> list[str]:
    """The arithmetic statements in ``text`` (normalised), before any is computed."""
    found: list[str] = []
    for match in _RUN.finditer(text):
        run, start, end = match.group(0), match.start(), match.end()
        before = text[:start].rstrip()[-1:]
        if start and (text[start - 1].isalnum() or text[start - 1] in "._"):
            continue  # "x2 = 4", "v1.5 = …"
        if before and (
            before in _OPERATOR_CHARS or before.isdigit() or (run[0] == "-" and before.isalnum())
        ):
            # The left side starts with a variable ("x + 2 * 3 = 8", "x -2 = 1") or the run
            # was cut from a longer one.
            continue
        # "391. Then 2 + 2 = 4" is two sentences: split the run at sentence full stops.
        pieces = _SENTENCE_DOT.split(run)
        last = len(pieces) - 1
        if not run[-1].isspace() and end < len(text) and (text[end].isalnum() or text[end] in "_%"):
            pieces[last] = ""  # "= 6x", "= 12%": the last value is not a plain number
        for piece in pieces:
            claim = " ".join(piece.split()).rstrip(".")
            if ("=" in claim or "≈" in claim) and _BINARY_OP.search(claim):
                if any(int(m[1]) < int(m[2]) for m in _RANGE.finditer(claim)):
                    continue
                found.append(claim)
    return found


def _number(side: str) -> int | float:
    literal = _PLAIN_NUMBER.fullmatch(side)
    if literal and "(" not in side and ")" not in side:
        return float(side) if literal.group(1) else int(side)  # most right-hand sides
    return safe_eval(side)


def check_arithmetic(text: str) -> list[ArithmeticClaim]:
    r"""Find the arithmetic claims in prose and recompute each.

    Claims are statements such as ``17 * 23 = 391``, ``2^10 = 1024``, chains such as
    ``17 × 23 = 340 + 51 = 391`` and ``\frac{1}{4} = 0.25``. Only claims made of numbers and
    operators on both sides are checked: ``2x + 3 = 7`` and ``x = 3`` are algebra, not
    arithmetic, and are skipped, as are claims that cannot be computed safely (see
    :func:`safe_eval`). A shown decimal may be rounded or truncated in its last digit; ``≈``
    allows 1%. At most :data:`MAX_CLAIMS` claims are checked.

    Args:
        text: Prose, e.g. an answer without its code blocks.

    Returns:
        One :class:`ArithmeticClaim` per claim checked, in the order found.
    """
    if "=" not in text and "≈" not in text:
        return []
    candidates = _candidates(_normalise_math(text))
    if len(candidates) > MAX_CLAIMS:
        half = MAX_CLAIMS // 2
        candidates = candidates[:half] + candidates[-half:]
    claims: list[ArithmeticClaim] = []
    for claim in candidates:
        approximate = "≈" in claim
        sides = [_balanced_side(s) for s in claim.replace("≈", "=").split("=")]
        if any(s is None for s in sides):
            continue
        checked = [s for s in sides if s is not None]
        try:
            values = [_number(s) for s in checked]
        except (ExpressionError, ValueError):
            continue
        wrong: str | None = None
        for i in range(len(values) - 1):
            pair = (checked[i], checked[i + 1])
            a, b = float(values[i]), float(values[i + 1])
            if abs(a - b) > _tolerance(a, b, pair, approximate):
                wrong = f"{pair[0]} = {_show(values[i])}, not {pair[1]}"
                break
        claims.append(ArithmeticClaim(text=claim, ok=wrong is None, detail=wrong or "correct"))
    return claims


def _show(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
