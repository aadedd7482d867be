"""Words and languages: one fast tokenisation shared by every check, and language detection.

Every check of the scorer reads the same lower-case tokens (:func:`tokens`), compares them
through a crude five-letter stem (:func:`stem`, :func:`stems`) and skips the same function
words (:data:`STOPWORDS`). :func:`detect_language` tells which language a text is in, and
:func:`mentions_language` and :func:`target_language` whether a query names one, so that an
answer in the wrong language can be caught.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Final

__all__ = [
    "IDEOGRAPH",
    "STOPWORDS",
    "detect_language",
    "mentions_language",
    "stem",
    "stems",
    "target_language",
    "tokens",
    "wordset",
]

# ASCII punctuation (but the apostrophe, which contractions keep) becomes a space. A bytes
# table: str.translate with a dict is ten times slower, and this runs on every answer.
_ASCII_PUNCT = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
_PUNCT_TABLE = bytes.maketrans(_ASCII_PUNCT.encode(), b" " * len(_ASCII_PUNCT))
_UNICODE_PUNCT = re.compile(r"[“”«»—–…·•¿¡‘。，、！？：；（）「」『』]")
IDEOGRAPH: Final = re.compile(r"[\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7AF]")
"""One Chinese, Japanese or Korean character: those scripts put no spaces between words."""


def tokens(lowered: str) -> list[str]:
    """Split lower-case text into words and numbers.

    Punctuation splits, apostrophes stay ("don't"); each Chinese, Japanese or Korean
    character is a token (those scripts put no spaces).

    Args:
        lowered: The text, already lower-cased.

    Returns:
        The tokens, in order.
    """
    if not lowered.isascii():
        lowered = _UNICODE_PUNCT.sub(" ", lowered.replace("’", "'"))
        if IDEOGRAPH.search(lowered):
            lowered = IDEOGRAPH.sub(r" \g<0> ", lowered)
    return lowered.encode().translate(_PUNCT_TABLE).decode().split()


def stem(word: str) -> str:
    """Return a crude stem of one word: see :func:`stems`.

    Args:
        word: A lower-case token.

    Returns:
        Its first five letters, or the word less a plural "s" when it is shorter.
    """
    if len(word) > 5:
        return word[:5]
    return word[:-1] if len(word) > 3 and word[-1] == "s" else word


def stems(words: frozenset[str] | set[str]) -> set[str]:
    """Return the crude stems of a set of words (what :func:`stem` gives each).

    A five-letter prefix merges "checks/checking", "palindrome/palindromes" cheaply; a real
    stemmer would cost more than the whole scorer.

    Args:
        words: Lower-case tokens.

    Returns:
        Their stems.
    """
    # Inlined, not a call of stem: this runs per answer word.
    return {w[:5] if len(w) > 5 else (w[:-1] if len(w) > 3 and w[-1] == "s" else w) for w in words}


def wordset(text: str) -> frozenset[str]:
    """Return the whitespace-separated words of ``text`` as a set (for word lists in source).

    Args:
        text: Words separated by spaces or newlines.

    Returns:
        The distinct words.
    """
    return frozenset(text.split())


_LANG_STOPWORDS: Final[dict[str, frozenset[str]]] = {
    "en": wordset(
        "the and is are of to in that it for with was this you what how not be have on "
        "can do does which there their they from would will has were been your about when "
        "why who because if or but at by an we my a as no so me he she his her our"
    ),
    "es": wordset(
        "el la los las de que y en es por para una con no se lo como del más pero su sus "
        "al está están son hay fue qué cómo cuál porque esta este desde entre sobre tiene "
        "puede ser hace todo cuando donde nos muy también"
    ),
    "fr": wordset(
        "le la les des et est une dans que qui pour pas sur avec ce vous il du au sont "
        "mais ou cette être nous aux leur été fait peut très ces tout aussi comme elle"
    ),
    "de": wordset(
        "der die das und ist nicht ein eine ich sie es mit den zu auf für von dem wie "
        "sind auch im wird werden kann hat oder aber noch nach bei aus sich wenn dass sehr "
        "durch"
    ),
    "it": wordset(
        "il lo la gli che di è e una per non con del sono della come ma anche questo nel "
        "alla più delle degli essere ha questa molto tutto perché alle sul dei"
    ),
    "pt": wordset(
        "o a os as de que e é um uma para com não em do da no na por mais são como mas "
        "está você muito também ele ela isso foi pelo pela das dos seu sua quando já ao"
    ),
    "nl": wordset(
        "de het een en van is dat niet ik je op te zijn met voor maar ook wat hoe er naar "
        "bij om aan heeft kan deze dit wordt nog uit dan als wel"
    ),
}
# Only words that belong to one language vote: "de", "a", "as" and "do" say nothing.
_LANG_MARKERS: Final[dict[str, str]] = {
    word: lang
    for lang, words in _LANG_STOPWORDS.items()
    for word in words
    if sum(word in other for other in _LANG_STOPWORDS.values()) == 1
}
# Words that say nothing about the topic of a query: function words, and the words of asking
# ("write", "explain", "tips") and of form ("poem", "sentence").
_QUERY_NOISE = wordset(
    """a an about above after again all also am any as at because been before being below
    between both but by could did doing down during each few further had has having he her
    here hers him his i if into its itself just me more most my myself no nor now only or
    other our out over own same she should so some such than then these those through too
    under until up very we were when where who whom why will would your yours yourself
    please write explain tell give show make create describe list help need want know using
    use used way get let like could would might me us one two three short brief simple
    quick detailed answer question something thing things can't don't i'm it's what's
    hi hey hello thanks thank sentence sentences word words paragraph paragraphs
    poem story haiku sonnet limerick joke essay show work working step steps tip tips
    better best good ways ideas reason reasons example examples four five six seven eight
    nine ten bullet bullets point points item items list numbered table json format markdown
    summary summarize summarise summarising summarizing briefly detail detailed"""
)
_CJK_NOISE = wordset(
    "的 是 了 在 和 有 我 你 他 这 那 哪 里 什 么 吗 呢 怎 样 个 一 不 也 就 而 与 或 "
    "の は が を に で と も"
)
STOPWORDS: Final = frozenset().union(*_LANG_STOPWORDS.values(), _QUERY_NOISE, _CJK_NOISE)
"""Words that say nothing about the topic: every language's function words, the words of
asking and of form, and Chinese and Japanese particles."""
_LANGUAGE_NAMES = re.compile(
    r"\b(translat\w*|tradu\w*|übersetz\w*|english|spanish|french|german|italian|portuguese|"
    r"dutch|russian|chinese|mandarin|japanese|korean|arabic|hindi|greek|hebrew|thai|"
    r"español|inglés|français|anglais|deutsch|englisch|italiano|português|"
    r"nederlands|русск\w*|англий\w*)\b|翻译|翻訳|中文|英语|日本語|英語"
)
_TARGET_LANGUAGE = re.compile(
    r"\b(?:into|to|in)\s+(english|spanish|french|german|italian|portuguese|dutch|russian|"
    r"chinese|mandarin|japanese|korean|arabic|hindi|greek|hebrew|thai)\b"
)
_LANGUAGE_CODES: Final = {
    "english": "en", "spanish": "es", "french": "fr", "german": "de", "italian": "it",
    "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh", "mandarin": "zh",
    "japanese": "ja", "korean": "ko", "arabic": "ar", "hindi": "hi", "greek": "el",
    "hebrew": "he", "thai": "th",
}  # fmt: skip


def mentions_language(lowered: str) -> bool:
    """Tell whether a query names a language or asks for a translation.

    Args:
        lowered: The query, lower-cased.

    Returns:
        True when it says "translate", "in French", "español", "中文" and the like.
    """
    return bool(_LANGUAGE_NAMES.search(lowered))


def target_language(lowered: str) -> str | None:
    """Return the language an instruction asks the answer to be in ("into French": ``fr``).

    Args:
        lowered: The instruction, lower-cased.

    Returns:
        A two-letter language code, or None when no language is asked for.
    """
    target = _TARGET_LANGUAGE.search(lowered)
    return _LANGUAGE_CODES.get(target.group(1)) if target else None


_NON_LATIN_LETTER = re.compile(r"[\u0370-\u1FFF\u3040-\u9FFF\uAC00-\uD7AF]")
_SCRIPTS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("latin", re.compile(r"[A-Za-z\u00C0-\u024F]")),
    ("ru", re.compile(r"[\u0400-\u04FF]")),
    ("el", re.compile(r"[\u0370-\u03FF]")),
    ("ar", re.compile(r"[\u0600-\u06FF]")),
    ("he", re.compile(r"[\u0590-\u05FF]")),
    ("hi", re.compile(r"[\u0900-\u097F]")),
    ("th", re.compile(r"[\u0E00-\u0E7F]")),
    ("ko", re.compile(r"[\uAC00-\uD7AF]")),
    ("ja", re.compile(r"[\u3040-\u30FF]")),
    ("zh", re.compile(r"[\u4E00-\u9FFF]")),
)
_IDEOGRAPHIC = frozenset({"zh", "ja", "ko"})


def detect_language(text: str, words: list[str]) -> str | None:
    """Tell which language a text is in, when it says so clearly.

    Non-Latin scripts are recognised by their letters; Latin-script languages by function
    words that belong to one language only.

    Args:
        text: The text itself (its first 2,000 characters are read).
        words: Its tokens (see :func:`tokens`; the first 200 are read).

    Returns:
        A language code (``en``, ``es``, ``ru``, ``zh``, ...), or None when it is not clear.
    """
    sample = text[:2000]
    if not sample.isascii() and len(_NON_LATIN_LETTER.findall(sample)) >= 2:
        counts = {name: len(pattern.findall(sample)) for name, pattern in _SCRIPTS}
        if counts["ja"] and counts["zh"]:  # Japanese mixes kana and kanji
            counts["ja"] += counts.pop("zh")
        total = sum(counts.values())
        script = max(counts, key=lambda k: counts[k])
        least = 2 if script in _IDEOGRAPHIC else 8
        if counts[script] < least or counts[script] < 0.6 * total:
            return None
        if script != "latin":
            return script
    votes = Counter(lang for w in words[:200] if (lang := _LANG_MARKERS.get(w)))
    ranked = votes.most_common(2)
    if not ranked or ranked[0][1] < 3:
        return None
    if len(ranked) > 1 and ranked[0][1] < 2 * ranked[1][1]:
        return None
    return ranked[0][0]
