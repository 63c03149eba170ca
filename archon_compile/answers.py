"""Reading a final answer out of free text, and normalising it: pure functions that never raise.

One module for the voter (which groups answers by these keys) and the task metrics (which score with
them), so two answers a metric counts as the same are one group of votes, and the other way round.
"""

from __future__ import annotations

import re
import string
import unicodedata

_ARTICLES = frozenset({"a", "an", "the"})


def normalise_text(text: str) -> str:
    """Lower case, accents folded, punctuation and the articles a/an/the dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    folded = "".join(
        " " if unicodedata.category(c).startswith("P") or c in string.punctuation else c for c in folded
    )
    return " ".join(w for w in folded.split() if w not in _ARTICLES)


ANSWER_LABEL = re.compile(r"^\s*(?:final\s+)?answer\s*[:\-]\s*", re.IGNORECASE)


def answer_text(text: str) -> str:
    """`normalise_text` of the text without a leading "Answer:" label: what exact match compares."""
    return normalise_text(ANSWER_LABEL.sub("", text))


# --------------------------------------------------------------------------------------------------
# Math


def extract_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` / `\\fbox{...}` (nested braces), or `\\boxed 5`; None if none
    is complete."""
    for match in reversed(list(re.finditer(r"\\(?:boxed|fbox)\b", text))):
        rest = text[match.end() :]
        stripped = rest.lstrip()
        if stripped.startswith("{"):
            content = _braced(stripped)
            if content is not None:
                return content.strip()
        elif rest[:1].isspace():
            token = re.match(r"[^\s$]+", stripped)
            if token:
                return token.group(0).rstrip(".")
    return None


def _braced(text: str) -> str | None:
    """The content of the brace group `text` starts with, or None when it is never closed."""
    depth = 0
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[1:i]
    return None


_ANSWER_IS = re.compile(r"(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*(.+)", re.IGNORECASE)
_FINAL_LABEL = re.compile(r"final\s+answer\s*:\s*(.+)", re.IGNORECASE)


def extract_math_answer(text: str) -> str | None:
    """The final answer of a solution: the last `\\boxed{}`, else the last "The answer is X" (or "Final
    answer: X") up to the end of its sentence; None when the solution states none."""
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in (_ANSWER_IS, _FINAL_LABEL):
        hits = list(pattern.finditer(text))
        if hits:
            tail = hits[-1].group(1).strip()
            sentence = re.split(r"\.(?:\s|$)|\n", tail, maxsplit=1)[0].strip()
            return sentence.strip("$ ").rstrip(".") or None
    return None


_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\\displaystyle|\^\{?\\circ\}?|\\%|%|\$")


def normalise_math(text: str) -> str:
    """A string form for the fallback comparison: `\\text{}` unwrapped, spacing macros, `$`, degrees and
    percent signs dropped, `\\dfrac`/`\\tfrac` as `\\frac`, whitespace and a trailing period removed."""
    out = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", text)
    out = _LATEX_NOISE.sub("", out).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    out = re.sub(r"\s+", "", out).rstrip(".")
    if re.fullmatch(r"[a-zA-Z]=.+", out):  # "x=5" is the value 5
        out = out[2:]
    return out.lower()


# --------------------------------------------------------------------------------------------------
# Numbers


_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+")


def extract_number(text: str) -> float | None:
    """The answer's number: after the last `####` if there is one, else in the last `\\boxed{}` or
    "The answer is ...", else the last number of the text. Commas and `$` are ignored."""
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    else:
        stated = extract_math_answer(text)
        if stated is not None and _NUMBER.search(stated.replace("$", "")):
            text = stated
    numbers = _NUMBER.findall(text.replace("$", ""))
    if not numbers:
        return None
    try:
        return float(numbers[-1].replace(",", ""))
    except ValueError:  # the regex only admits float syntax; kept total all the same
        return None


# --------------------------------------------------------------------------------------------------
# Option letters


def stated_letter(answer: str, valid: str) -> tuple[str | None, str]:
    """The option letter (one of `valid`) the answer states ("Answer: B", "the answer is (B)") or starts
    with ("B", "(B)", "B. Paris"), and how it was read; (None, "") when it states none."""
    text = answer.strip()
    stated = list(re.finditer(rf"(?i:answer)\s*(?:(?i:is)|:)?\s*:?\s*[\(\[]?([{valid}])(?![\w'])", text))
    if stated:
        return stated[-1].group(1), "stated letter"
    leading = re.match(rf"[\(\[]?([{valid}])(?:[\)\]\.:]|$)", text)
    if leading:
        return leading.group(1), "leading letter"
    return None, ""
