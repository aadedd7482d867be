"""The answer: prose, code blocks and counts, computed once, and what is broken in its form.

:func:`analyse_answer` splits an answer into prose and fenced code blocks and counts what
every check reads (words, sentences, paragraphs, list items, headings, table rows).
The structural checks live here too: whether a code block parses (:func:`block_problem`),
code pasted outside fences (:func:`unfenced_code_lines`), brackets in the prose that do not
balance (:func:`prose_bracket_problem`), an answer that stops mid-sentence
(:func:`truncation`), and the stems an answer takes up, identifiers in its code included
(:func:`answer_stems`).
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Final

from smartroute_graph.quality.scoring.language import IDEOGRAPH, stem, stems, tokens, wordset

__all__ = [
    "Answer",
    "CodeBlock",
    "analyse_answer",
    "answer_stems",
    "block_problem",
    "prose_bracket_problem",
    "truncation",
    "unfenced_code_lines",
]


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One fenced code block of an answer.

    Attributes:
        lang: The fence's language tag, lower-cased ("" when it has none).
        code: The code between the fences.
        closed: Whether the closing fence is there.
    """

    lang: str
    code: str
    closed: bool


@dataclass(slots=True)
class Answer:
    """An answer taken apart once, for every check to read.

    Attributes:
        text: The answer, stripped.
        prose: The answer without its fenced code blocks.
        blocks: Its fenced code blocks.
        unclosed_fence: A code fence is opened and never closed.
        words: Lower-case words of the prose.
        counts: How often each word of the prose occurs.
        joined: The prose words joined by single spaces and padded.
        sentences: The prose's sentences.
        prose_lines: The prose's non-blank lines.
        paragraphs: The prose's paragraphs.
        list_items: Bulleted and numbered list items.
        numbered_items: Numbered list items.
        headings: Markdown headings.
        table_rows: Lines with two or more ``|``.
        length: Words in the whole answer, code included.
        ideographic: Mostly Chinese, Japanese or Korean.
    """

    text: str
    prose: str
    """The answer without its fenced code blocks."""
    blocks: list[CodeBlock]
    unclosed_fence: bool
    words: list[str]
    """Lower-case words of the prose."""
    counts: Counter[str]
    joined: str
    """The prose words joined by single spaces and padded: " w1 w2 … ", so that a phrase
    search for " for example " matches whole words only."""
    sentences: list[str]
    prose_lines: list[str]
    paragraphs: list[str]
    list_items: int
    numbered_items: int
    headings: int
    table_rows: list[str]
    length: int
    """Words in the whole answer, code included (what length limits count)."""
    ideographic: bool
    """Mostly Chinese, Japanese or Korean: the English-word signals do not apply."""

    @property
    def n_words(self) -> int:
        """Words in the prose."""
        return len(self.words)

    def phrases(self, phrases: tuple[str, ...]) -> int:
        """Count the occurrences of whole-word phrases in the prose.

        Args:
            phrases: Lower-case phrases padded with a space each side (" for example ").

        Returns:
            How many times they occur, all together.
        """
        return sum(self.joined.count(p) for p in phrases)

    def count(self, words: frozenset[str]) -> int:
        """Count the occurrences of words in the prose.

        Args:
            words: Lower-case words.

        Returns:
            How many times they occur, all together.
        """
        counts = self.counts
        return sum(counts[w] for w in words if w in counts)


def _split_code(text: str) -> tuple[str, list[CodeBlock], bool]:
    if "```" not in text and "~~~" not in text:
        return text, [], False
    prose: list[str] = []
    blocks: list[CodeBlock] = []
    fence: str | None = None
    lang = ""
    code: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence, lang, code = stripped[:3], stripped[3:].strip().lower(), []
        elif fence is not None and stripped.startswith(fence) and not stripped[3:].strip():
            blocks.append(CodeBlock(lang, "\n".join(code), closed=True))
            fence = None
            prose.append("")
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    if fence is not None:
        blocks.append(CodeBlock(lang, "\n".join(code), closed=False))
    return "\n".join(prose), blocks, fence is not None


_INLINE_CODE = re.compile(r"`[^`\n]+`")
_NUMBERED = re.compile(r"\d{1,3}[.)]\s")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_ENDS = (". ", "? ", "! ", "。", "？", "！")


def _sentences(prose: str) -> list[str]:
    # str.replace and split, not a regex: four times faster, and an abbreviation that ends
    # a "sentence" early ("e.g. ") moves no score much.
    for end in _SENTENCE_ENDS:
        if end in prose:
            prose = prose.replace(end, end.rstrip() + "\n")
    return [s for line in prose.split("\n") if (s := line.strip(" \t>#*-|"))]


def analyse_answer(text: str) -> Answer:
    """Take an answer apart into prose, code blocks and counts.

    Args:
        text: The answer, stripped of surrounding whitespace.

    Returns:
        Its analysis, which every check reads.
    """
    prose, blocks, unclosed = _split_code(text)
    if "`" in prose:
        prose = _INLINE_CODE.sub(" code ", prose)
    words = tokens(prose.lower())
    lines = [line for line in prose.split("\n") if line.strip()]
    list_items = numbered = headings = 0
    table_rows: list[str] = []
    for line in lines:
        stripped = line.lstrip()
        first = stripped[:1]
        if first in "-*+•" and stripped[1:2] == " ":
            list_items += 1
        elif first.isdigit() and _NUMBERED.match(stripped):
            list_items += 1
            numbered += 1
        elif first == "#" and stripped.lstrip("#")[:1] == " ":
            headings += 1
        if stripped.count("|") >= 2:
            table_rows.append(stripped)
    length = len(text.split())
    ideographs = 0
    if not text.isascii():  # Chinese and Japanese put no spaces between words
        ideographs = len(IDEOGRAPH.findall(text))
        length += ideographs // 2
    return Answer(
        text=text,
        prose=prose,
        blocks=blocks,
        unclosed_fence=unclosed,
        words=words,
        counts=Counter(words),
        joined=f" {' '.join(words)} ",
        sentences=_sentences(prose),
        prose_lines=lines,
        paragraphs=[p for p in _PARAGRAPH_BREAK.split(prose) if p.strip()]
        if "\n" in prose
        else [prose],
        list_items=list_items,
        numbered_items=numbered,
        headings=headings,
        table_rows=table_rows,
        length=length,
        ideographic=ideographs > 0.3 * len(words),
    )


_PY_LANGS = frozenset({"python", "py", "python3", "py3", "ipython", "pycon"})
_BRACE_LANGS = wordset(
    "javascript js jsx ts tsx typescript java c cpp c++ cc h hpp csharp cs c# go golang rust rs "
    "kotlin kt swift php scala dart sql css scss lua perl r"
)
_LOOKS_PYTHON = re.compile(
    r"^\s*(?:def \w+\(|class \w+[(:]|import \w|from [\w.]+ import |print\(|@\w+|"
    r"if __name__|for \w+ in .+:\s*$|while .+:\s*$)",
    re.MULTILINE,
)
_C_STATEMENT_END = re.compile(r"[;{]\s*$", re.MULTILINE)
_STRING_LITERAL = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`")
_LINE_COMMENT = re.compile(r"//[^\n]*")
_HASH_COMMENT = re.compile(r"#[^\n]*")
_BRACKET = re.compile(r"[()\[\]{}]")
_PAIRS: Final = {")": "(", "]": "[", "}": "{"}
_UNFENCED_CODE = re.compile(
    r"^\s*(?:def \w+\(.*\):|class \w+.*:|import \w+|from \w+ import|#include|"
    r"public (?:static |class )|function \w+\(|(?:const|let|var) \w+ =|return .+;|for \(.*\) ?\{)",
    re.MULTILINE,
)
_CODE_HINTS = ("def ", "class ", "import ", "#include", "public ", "function ", "const ", "let ")
_CODE_HINTS2 = ("var ", "return ", "for (")


def unfenced_code_lines(prose: str) -> int:
    """Count the lines of code pasted into prose, outside code fences.

    Args:
        prose: The answer without its fenced code blocks.

    Returns:
        How many lines look like code (a definition, an import, a statement).
    """
    if not any(h in prose for h in _CODE_HINTS) and not any(h in prose for h in _CODE_HINTS2):
        return 0
    return len(_UNFENCED_CODE.findall(prose))


def _strip_block_comments(code: str) -> str:
    # str.find, not a lazy regex: many unclosed "/*" would make a regex quadratic.
    kept: list[str] = []
    start = 0
    while (opening := code.find("/*", start)) >= 0:
        kept.append(code[start:opening])
        closing = code.find("*/", opening + 2)
        if closing < 0:
            return "".join(kept)  # an unclosed comment runs to the end
        start = closing + 2
    kept.append(code[start:])
    return "".join(kept)


def _bracket_problem(code: str, *, hash_comments: bool = False, prose: bool = False) -> str | None:
    if not prose:  # in prose an apostrophe is not a quote, and // is not a comment
        code = _STRING_LITERAL.sub('""', code)
        code = _LINE_COMMENT.sub("", _strip_block_comments(code))
    if hash_comments:
        code = _HASH_COMMENT.sub("", code)
    stack: list[str] = []
    for char in _BRACKET.findall(code):
        if char in "([{":
            stack.append(char)
        elif not stack or stack.pop() != _PAIRS[char]:
            return f"unmatched {char!r}"
    return f"unclosed {stack[-1]!r}" if stack else None


def _python_problem(code: str) -> str | None:
    lines = code.split("\n")
    if any(line.lstrip().startswith(">>>") for line in lines):
        # A console session: only the typed lines are code.
        lines = [line.lstrip()[4:] for line in lines if line.lstrip().startswith((">>>", "..."))]
        code = "\n".join(lines)
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"cannot parse: {type(exc).__name__}"
    return None


def _block_language(block: CodeBlock) -> str:
    if block.lang:
        return block.lang
    if _LOOKS_PYTHON.search(block.code) and not _C_STATEMENT_END.search(block.code):
        return "python"
    return ""


def block_problem(block: CodeBlock) -> str | None:
    """Tell what is syntactically wrong with a code block.

    Python is parsed with :mod:`ast` (a console session's typed lines only), JSON with
    :mod:`json`, brace languages are checked for balanced brackets; a block in another
    language, or untagged and not recognisably Python, is not checked.

    Args:
        block: The code block.

    Returns:
        What is wrong, e.g. ``line 2: '[' was never closed``; None when nothing is, or when
        it cannot tell.
    """
    lang = _block_language(block)
    if lang in _PY_LANGS:
        return _python_problem(block.code)
    if lang == "json":
        try:
            json.loads(block.code)
        except ValueError as exc:
            return f"invalid JSON: {exc}"
        return None
    if lang in _BRACE_LANGS:
        return _bracket_problem(block.code, hash_comments=lang in ("php", "r", "perl"))
    return None


_LIST_PAREN = re.compile(r"^\s*(?:\d+|[a-zA-Z]|[ivx]+)\)\s", re.MULTILINE)
_EMOTICON = re.compile(r"[:;]-?[()]")


def prose_bracket_problem(prose: str) -> str | None:
    """Tell whether the brackets in the prose of an answer balance.

    List markers ("1) first", "a) option") and emoticons (":)") are not counted.

    Args:
        prose: The answer without its fenced code blocks.

    Returns:
        What does not balance, for a penalty's reason; None when all do.
    """
    if not _BRACKET.search(prose):
        return None
    # "1) first", "a) option" and ":)" are not brackets that need a partner.
    cleaned = _LIST_PAREN.sub(" ", prose) if ")" in prose else prose
    if ":" in cleaned or ";" in cleaned:
        cleaned = _EMOTICON.sub(" ", cleaned)
    problem = _bracket_problem(cleaned, prose=True)
    return f"brackets in the text do not balance ({problem})" if problem else None


# An unpunctuated last line that ends on one of these cannot be a finished sentence ("Try
# this" or "I think so" can, so "this" and "so" are not here).
_DANGLING = re.compile(
    r"(?:[,:;(\[{–—-]|\b(?:the|a|an|and|or|but|of|to|with|which|because|from|their|its|our|"
    r"your|whose|whether|between|into|than))\s*$",
    re.IGNORECASE,
)
_TERMINAL = frozenset(".!?…)]}\"'”’*`|>:;。！？」")


def truncation(answer: Answer) -> str | None:
    """Tell whether an answer stops before its end.

    It does when a code block is never closed, its last line ends on a word that cannot end
    a sentence ("the", "and", a comma), or a long last sentence has no closing punctuation.

    Args:
        answer: The answer's analysis.

    Returns:
        Where it stops, for a penalty's reason; None when it looks finished.
    """
    if answer.unclosed_fence:
        return "a code block is never closed (the answer stops inside it)"
    tail = answer.text.rstrip()
    if answer.blocks and tail.endswith(("```", "~~~")):
        return None
    last_line = tail.rsplit("\n", 1)[-1].strip()
    if not last_line or answer.n_words < 8:
        return None
    is_item = last_line[:1] in "-*+•" or bool(_NUMBERED.match(last_line))
    if _DANGLING.search(last_line[-30:]) and not is_item:
        return f"the answer stops mid-sentence: '…{last_line[-40:]}'"
    if last_line[-1] in _TERMINAL or not last_line[-1].isalnum() or is_item:
        return None
    # A long last sentence that ends in a word, in an answer whose other sentences end
    # properly (or one so long that a model would have punctuated it). Short unpunctuated
    # endings ("try this") are common in chat and are let be.
    ended = sum(1 for s in answer.sentences[:-1] if s[-1:] in _TERMINAL)
    words = answer.sentences[-1].count(" ") + 1 if answer.sentences else 0
    if words >= 15 or (words >= 12 and ended >= 1):
        return f"the answer stops mid-sentence: '…{last_line[-40:]}'"
    return None


_IDENTIFIER_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def answer_stems(a: Answer) -> set[str]:
    """Return the stems an answer takes up: its prose words and its code's identifiers.

    Args:
        a: The answer's analysis.

    Returns:
        Stems (see :func:`~smartroute_graph.quality.scoring.language.stems`), for matching
        against the query's key terms.
    """
    found = stems(set(a.counts))
    for block in a.blocks:  # identifiers count: is_palindrome takes up "palindrome"
        found |= stems({w.lower() for w in _IDENTIFIER_PART.findall(block.code)})
        found.add(stem(block.lang))
    return found
