"""Forms of the consent pages."""

from flask_babel import lazy_gettext
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from forms import BaseForm


class PrintForm(BaseForm):
    fmt = SelectField(lazy_gettext("Формат"), choices=[("pdf", "PDF"), ("docx", "Word (DOCX)")])


class SignForm(BaseForm):
    on_date = DateField(lazy_gettext("Дата подписания"),
                        validators=[InputRequired(lazy_gettext("Укажите дату подписания."))])
    scan = FileField(lazy_gettext("Скан подписанного согласия (PDF, JPEG или PNG, до 10 МБ) — необязательно"))


class WithdrawForm(BaseForm):
    on_date = DateField(lazy_gettext("Дата отзыва"), validators=[InputRequired(lazy_gettext("Укажите дату отзыва."))])
    reason = TextAreaField(lazy_gettext("Основание (заявление об отзыве)"), validators=[
        DataRequired(lazy_gettext("Укажите основание отзыва.")), Length(max=2000)])


class BatchForm(BaseForm):
    """Selected members come as a list of ids in `member_ids` (checkboxes of the member list)."""


class BulkSignForm(BaseForm):
    """«Согласия подписаны» for many members at once (seed 002 step 7): one signing date and the 152-FZ tick."""

    on_date = DateField(lazy_gettext("Дата подписания"),
                        validators=[InputRequired(lazy_gettext("Укажите дату подписания."))])
    consent152 = BooleanField(lazy_gettext("Подписанные бланки согласий (ФЗ № 152-ФЗ «О персональных данных») "
                                           "получены от всех отмеченных"),
                              validators=[DataRequired(lazy_gettext("Отметьте, что подписанные бланки получены: без "
                                                                    "этой отметки подписание не записывается."))])
