"""The one-page instruction for members (seed 002 step 11, SPEC §7): how to register in the cabinet, with the
member's own card number — one page per member of a primary organisation whose card was issued."""

from __future__ import annotations

from datetime import date

from portal.documents.dates import ru_date
from portal.documents.pdf import render_pdf

HTML_TEMPLATE = "member_instruction/template.html"


def member_instruction_pdf(org_name: str, chair_name: str, members: list[tuple[str, str]], *, register_url: str,
                           login_url: str, support_phone: str, support_email: str, on: date) -> bytes:
    """A page per (full name, card number); with no members, one page with blanks to fill in by hand."""
    sheets = [{"full_name": name, "card_number": _grouped(number)} for name, number in members] or [
        {"full_name": "", "card_number": ""}]
    return render_pdf(HTML_TEMPLATE, sheets=sheets, org_name=org_name, chair_name=chair_name,
                      register_url=register_url, login_url=login_url, support_phone=support_phone,
                      support_email=support_email, generated_on=ru_date(on))


def _grouped(number: str | None) -> str:
    """«2202 0000 0000 0017»: the way it is printed on the card."""
    number = number or ""
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))
