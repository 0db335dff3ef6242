"""Forms of the consent pages."""

from flask_wtf.file import FileField
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from forms import BaseForm


class PrintForm(BaseForm):
    fmt = SelectField("Формат", choices=[("pdf", "PDF"), ("docx", "Word (DOCX)")])


class SignForm(BaseForm):
    on_date = DateField("Дата подписания", validators=[InputRequired("Укажите дату подписания.")])
    scan = FileField("Скан подписанного согласия (PDF, JPEG или PNG, до 10 МБ) — необязательно")


class WithdrawForm(BaseForm):
    on_date = DateField("Дата отзыва", validators=[InputRequired("Укажите дату отзыва.")])
    reason = TextAreaField("Основание (заявление об отзыве)", validators=[
        DataRequired("Укажите основание отзыва."), Length(max=2000)])


class BatchForm(BaseForm):
    """Selected members come as a list of ids in `member_ids` (checkboxes of the member list)."""
