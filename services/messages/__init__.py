"""The one message catalogue: every text a user reads or hands in, in Korean and English.

Entries live in ``*.toml`` files beside this module, one file per area (``ui.toml`` for the
dashboard, ``submission.toml`` for the hand-in document, ``cli.toml`` for the CLI). Each entry
is a table named by its key with one string per language::

    ["data.title"]
    ko = "데이터"
    en = "Data"

Placeholders are ``str.format`` fields (``{count}``); ``text(key, lang, **values)`` fills them.
Nothing is read at import time: the files are loaded on the first lookup and kept.
"""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache
from pathlib import Path
from typing import Literal, Self

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Language",
    "MessageError",
    "Notice",
    "catalogue",
    "columns",
    "language_of",
    "notice",
    "padded",
    "text",
    "worded",
]

Language = Literal["ko", "en"]
# Korean first: the people this is for write Korean; English is the second language.
LANGUAGES: tuple[Language, ...] = ("ko", "en")
DEFAULT_LANGUAGE: Language = "ko"
_FOLDER = Path(__file__).resolve().parent


class MessageError(KeyError):
    """A key the catalogue lacks, or an entry without one of the languages."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every entry of every ``*.toml`` file here: key → {language: text}. A key defined in two
    files, or an entry missing a language, is refused here rather than shown half-translated."""
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(_FOLDER.glob("*.toml")):
        with path.open("rb") as handle:
            entries = tomllib.load(handle)
        for key, entry in entries.items():
            if key in merged:
                raise MessageError(f"message {key!r} is defined twice (again in {path.name})")
            if not isinstance(entry, dict):
                raise MessageError(f"message {key!r} in {path.name} must be a table of languages")
            missing = [lang for lang in LANGUAGES if not isinstance(entry.get(lang), str)]
            if missing:
                raise MessageError(f"message {key!r} in {path.name} lacks {', '.join(missing)}")
            merged[key] = {lang: entry[lang] for lang in LANGUAGES}
    return merged


class Notice(str):
    """A line shown to a reader (a warning, an exclusion's detail): its English words as the
    string itself, so logs, JSON and the CLI keep them, plus the catalogue ``key`` and ``values``
    that word it in another language (``notice.text(lang)``)."""

    key: str
    values: dict[str, object]

    def __new__(cls, english: str, key: str, values: dict[str, object] | None = None) -> Self:
        notice = super().__new__(cls, english)
        notice.key = key
        notice.values = dict(values or {})
        return notice

    def __reduce__(self) -> tuple[type[Notice], tuple[str, str, dict[str, object]]]:
        return (Notice, (str(self), self.key, self.values))  # st.cache_data pickles the evidence

    def text(self, lang: str) -> str:
        """The catalogue's wording in ``lang``; the English words when it lacks the key or a value.
        A value that is itself a Notice (a clause of the line) is worded in ``lang`` too."""
        entry = catalogue().get(self.key)
        if entry is None or language_of(lang) == "en":
            return str(self)
        values = {k: v.text(lang) if isinstance(v, Notice) else v for k, v in self.values.items()}
        try:
            return entry[language_of(lang)].format(**values)
        except (KeyError, IndexError, ValueError):
            return str(self)


def notice(key: str, /, **values: object) -> Notice:
    """The Notice of catalogue entry ``key``: its English entry filled from ``values`` as the
    string, worded in another language by ``text`` (a value that is a Notice is worded with it)."""
    return Notice(text(key, "en", **values), key, values)


def worded(line: str, lang: str) -> str:
    """A service's line in ``lang``: a :class:`Notice` by its catalogue entry, any other text as it is."""
    return line.text(lang) if isinstance(line, Notice) else line


def columns(line: str) -> int:
    """How many terminal columns ``line`` takes: a Korean character is two columns wide."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def padded(label: str, width: int, *, right: bool = False) -> str:
    """``label`` and the spaces that fill ``width`` terminal columns (before it with ``right``):
    ``str.ljust`` and ``rjust`` count characters, so they would misalign a column of Korean words."""
    fill = " " * max(width - columns(label), 0)
    return fill + label if right else label + fill


def language_of(value: str | None) -> Language:
    """A language code from a query parameter, a setting (``ko_KR.UTF-8``) or an Accept-Language
    header, whose languages are taken by their ``q`` weight (ties in the order written; ``q=0``
    refuses one); Korean when it names neither language."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((value or "").split(",")):
        code, *parameters = part.split(";")
        weight = 1.0
        for parameter in parameters:
            name, _, number = parameter.strip().partition("=")
            if name.lower() == "q":
                try:
                    weight = float(number)
                except ValueError:
                    weight = 0.0
        ranked.append((-weight, position, code.strip().lower()[:2]))
    for negative_weight, _, code in sorted(ranked):
        if code in LANGUAGES and negative_weight < 0:
            return code
    return DEFAULT_LANGUAGE


def text(key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object) -> str:
    """The message ``key`` in ``lang``, its ``{placeholders}`` filled from ``values``."""
    entry = catalogue().get(key)
    if entry is None:
        raise MessageError(f"no message {key!r} in the catalogue")
    template = entry[language_of(lang)]
    return template.format(**values) if values else template
