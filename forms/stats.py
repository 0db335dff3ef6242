"""Forms of statistics: freezing a report."""

from __future__ import annotations

from flask_babel import lazy_gettext
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length, Optional

from forms import BaseForm


class FreezeForm(BaseForm):
    """Freeze the report of a date as a snapshot (a title is optional)."""

    on = DateField(lazy_gettext("Отчёт на дату"), validators=[InputRequired(lazy_gettext("Укажите дату отчёта."))])
    title = StringField(lazy_gettext("Название (необязательно)"), validators=[Optional(), Length(max=200)])
