"""Documents generated from the templates in doc_templates/ (SPEC §10): DOCX through docxtpl, PDF through WeasyPrint.

    consent_docx(member) -> bytes           the 152-FZ consent form of one member, DOCX
    consent_pdf(member) -> bytes            the same, PDF (one page)
    consent_batch_pdf(members, progress)    one PDF, a consent page per member, rendered by 2 worker processes
    member_card_pdf(member) -> bytes        the copy of the member card with history
    ru_date(date) -> str                    «23 сентября 2018 г.»
    safe_url_fetcher                        WeasyPrint's URL fetcher: doc_templates/ and portal/static/ only

Security: member data reaches templates only as values (never as template text); the HTML environment and
docxtpl both autoescape; WeasyPrint loads nothing but local template files and data: URLs. Generation happens
in memory and returns bytes — callers store or send them (as attachments), nothing is left on disk.
WeasyPrint and docxtpl are imported on first use, so importing this package costs nothing at app start.
"""

from portal.documents.consent import consent_batch_pdf, consent_docx, consent_pdf
from portal.documents.dates import ru_date
from portal.documents.member_card import member_card_pdf

__all__ = ["consent_batch_pdf", "consent_docx", "consent_pdf", "member_card_pdf", "ru_date", "safe_url_fetcher"]


def __getattr__(name: str):
    if name == "safe_url_fetcher":  # imports WeasyPrint, so only when asked for
        from portal.documents.fetcher import safe_url_fetcher

        return safe_url_fetcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
