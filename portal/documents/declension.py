"""The dative case for the one place a document must decline: the addressee block of form No. 1 («Председателю
Липецкой областной организации … Иванову П.С.»). Everything else prints names in the nominative after a label.

Declension is pymorphy3's (a maintained morphological dictionary of Russian with a predictor for unknown words),
never endings written by hand. Only words the dictionary reads as nominative are declined, so a name already in
the dative (or anything it does not recognise) stays exactly as written. The result is a *proposal*: the regional
office sees it in the regulation's form and corrects it before it is saved and printed.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"^[А-Яа-яЁё]+(-[А-Яа-яЁё]+)?$")


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def _as_written(original: str, inflected: str) -> str:
    """The inflected word with the original's capitals (pymorphy3 answers in lower case)."""
    if "-" in original and original.count("-") == inflected.count("-"):
        return "-".join(_as_written(o, i) for o, i in zip(original.split("-"), inflected.split("-"), strict=True))
    if original.isupper() and len(original) > 1:
        return inflected.upper()
    if original[:1].isupper():
        return inflected[:1].upper() + inflected[1:]
    return inflected


def _nominative(word: str, pos: set[str], extra: set[str] = frozenset()):
    for parse in _morph().parse(word):
        tag = parse.tag
        if tag.POS in pos and tag.case == "nomn" and tag.number != "plur" and extra <= tag.grammemes:
            return parse
    return None


def organisation_dative(name: str) -> str:
    """«Липецкая областная организация Общероссийского Профсоюза образования» → «Липецкой областной организации
    Общероссийского Профсоюза образования»: the leading adjectives and their noun are declined, the rest (already
    in the genitive) stays. A name that does not start in the nominative is returned unchanged."""
    words = name.split()
    out: list[str] = []
    for i, word in enumerate(words):
        parse = _nominative(word, {"ADJF", "NOUN"}) if _WORD.match(word) else None
        inflected = parse.inflect({"datv"}) if parse else None
        if inflected is None:
            return " ".join(out + words[i:])
        out.append(_as_written(word, inflected.word))
        if parse.tag.POS == "NOUN":
            return " ".join(out + words[i + 1:])
    return " ".join(out)


def person_dative(name: str) -> str:
    """«Прохоров С.А.» → «Прохорову С.А.», «Петрова Елена Викторовна» → «Петровой Е.В.»: the surname in the
    dative with initials, as an addressee line writes it. An unknown surname stays as written."""
    parts = name.replace(".", ". ").split()
    if not parts:
        return ""
    surname, rest = parts[0], parts[1:]
    initials = "".join(f"{p[0]}." for p in rest[:2] if p and p[0].isalpha())
    gender = None
    if len(rest) >= 2 and len(rest[1].rstrip(".")) > 1:  # a full patronymic says the gender
        patr = _nominative(rest[1], {"NOUN"}, {"Patr"})
        gender = patr.tag.gender if patr else None
    declined = surname
    if _WORD.match(surname):
        for parse in _morph().parse(surname):
            tag = parse.tag
            if "Surn" in tag.grammemes and tag.case == "nomn" and tag.number != "plur" and (
                    gender is None or tag.gender == gender):
                inflected = parse.inflect({"datv"})
                if inflected is not None:
                    declined = _as_written(surname, inflected.word)
                break
    return f"{declined} {initials}".strip()


def addressee_block(region_name: str, chairman_name: str) -> str:
    """The addressee block of form No. 1 for a region: «Председателю», the region in the dative, the chairman."""
    lines = ["Председателю", organisation_dative(" ".join(region_name.split()))]
    if chairman_name.strip():
        lines.append(person_dative(chairman_name))
    return "\n".join(line for line in lines if line)
