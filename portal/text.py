"""Text helpers shared by search, duplicates and imports: Russian case folding and ё→е."""

import re

_SPACES = re.compile(r"\s+")


def fold(value: str | None) -> str:
    """Fold a name for comparison and search: trim, collapse spaces, lower case (Cyrillic too), ё→е."""
    if not value:
        return ""
    return _SPACES.sub(" ", value.strip()).lower().replace("ё", "е")


def clean(value: str | None) -> str:
    """Trim and collapse inner spaces, keeping the case as typed."""
    if value is None:
        return ""
    return _SPACES.sub(" ", str(value).strip())


def like_prefix(value: str) -> str:
    """A LIKE pattern for a prefix search, with LIKE's wildcards escaped (escape char is backslash)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def gendered(gender, male: str, female: str, neutral: str | None = None) -> str:
    """The variant of a message for the person's gender («вступила раньше, чем родилась»), never «поставлен(а)».

    `gender` is the member's Gender (or its value "M"/"F"); unknown gives `neutral` (the masculine when none is
    given). The variants are separate msgids, so each is translated whole.
    """
    value = getattr(gender, "value", gender)
    if value == "F":
        return female
    if value == "M":
        return male
    return neutral if neutral is not None else male


def money(value, locale: str = "ru") -> str:
    """Roubles with kopecks as a page writes them: «6 000,00» (ru, a no-break space between thousands), «6,000.00» (en).

    Exact: the Decimal is rounded to kopecks, never passed through a float.
    """
    from decimal import Decimal

    text = f"{Decimal(value).quantize(Decimal('0.01')):,.2f}"
    return text if locale == "en" else text.replace(",", "\u00a0").replace(".", ",")


def percent(value, locale: str = "ru", digits: int = 2) -> str:
    """A level in per cent without the sign: «85,50» (ru), «85.50» (en); `digits` decimals (coverage shows one:
    «100,0»). Decimal rounding half up, as people round; a float is taken through its shortest repr."""
    from decimal import ROUND_HALF_UP, Decimal

    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    text = f"{number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):.{digits}f}"
    return text if locale == "en" else text.replace(".", ",")


def number(value, locale: str = "ru") -> str:
    """A number as typed data shows it, without trailing zeros: «80», «80,5», «1 200» (ru); «80.5», «1,200» (en)."""
    from decimal import Decimal

    d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    d = d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
    text = f"{d:,f}"
    return text if locale == "en" else text.replace(",", "\u00a0").replace(".", ",")


def years(n: int, locale: str = "ru") -> str:
    """«1 год», «2 года», «5 лет», «21 год» (ru); «1 year», «5 years» (en)."""
    if locale == "en":
        return f"{n} year" if n == 1 else f"{n} years"
    if n % 10 == 1 and n % 100 != 11:
        word = "год"
    elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        word = "года"
    else:
        word = "лет"
    return f"{n} {word}"
