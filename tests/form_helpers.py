"""Reading a form page as a person sees it: what is typed in a field, and the message shown next to it.

A refused form must come back filled in with the message beside the field (issue 9 item 5); these helpers find the
field by its `name` and read the `invalid-feedback` of the block that holds it (the `field` macro's layout).
"""

from __future__ import annotations

import lxml.html


def _field(page: str, name: str, index: int = 0):
    tree = lxml.html.fromstring(page)
    found = tree.xpath(f'//*[@name="{name}"][self::input or self::textarea or self::select]')
    if not found:
        raise AssertionError(f"no field named {name!r} on the page")
    return found[index]


def field_value(page: str, name: str, index: int = 0) -> str:
    """The value the page shows in the field (an input's value, a textarea's text, a select's chosen option)."""
    el = _field(page, name, index)
    if el.tag == "textarea":
        return el.text_content()
    if el.tag == "select":
        chosen = el.xpath(".//option[@selected]")
        return chosen[0].get("value", "") if chosen else ""
    return el.get("value", "")


def field_error(page: str, name: str, index: int = 0) -> str:
    """The message(s) next to the field, "" when there is none; the field must be marked invalid when there is."""
    el = _field(page, name, index)
    block = el.getparent()
    while block is not None and "mb-3" not in (block.get("class") or "").split():
        block = block.getparent()
    if block is None:
        return ""
    text = " ".join(e.text_content().strip() for e in block.xpath('.//*[contains(@class, "invalid-feedback")]'))
    if text:
        assert "is-invalid" in (el.get("class") or ""), f"{name}: a message without the field marked invalid"
    return text


def is_required(page: str, name: str, index: int = 0) -> bool:
    """The browser checks the field (the `required` attribute) and the label carries the visible mark."""
    el = _field(page, name, index)
    return el.get("required") is not None
