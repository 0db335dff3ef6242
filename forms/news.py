"""Forms of news: the editor's item form, the mailing form (preview, then send), unsubscribe confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf.file import FileField
from wtforms import BooleanField, DateTimeLocalField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from forms import BaseForm
from portal.i18n import lazy
from portal.news.models import NewsCategory
from portal.registry.models import Category

REQUIRED = lazy_gettext("Обязательное поле.")


class NewsForm(BaseForm):
    """A news item: text, rubric, audience, publication time, an image."""

    title = StringField(lazy_gettext("Заголовок"), validators=[DataRequired(REQUIRED), Length(max=300)])
    lead = TextAreaField(lazy_gettext("Анонс"), validators=[Optional(), Length(max=2000)])
    body = TextAreaField(lazy_gettext("Текст (допускается HTML-разметка: абзацы, списки, ссылки)"),
                         validators=[Optional(), Length(max=200_000)])
    category = SelectField(lazy_gettext("Рубрика"), choices=[(c.value, lazy(c.title)) for c in NewsCategory],
                           validators=[DataRequired(REQUIRED)])
    audience_orgs = SelectMultipleField(lazy_gettext("Для организаций (пусто — для всех в вашей области)"),
                                        choices=[], validate_choice=False)
    audience_categories = SelectMultipleField(lazy_gettext("Для категорий членов Профсоюза (пусто — для всех)"),
                                              choices=[(c.value, lazy(c.title)) for c in Category])
    is_public = BooleanField(lazy_gettext("Публичная новость (видна без входа, попадает в RSS и Atom)"))
    publish_at = DateTimeLocalField(lazy_gettext("Опубликовать в (время московское; пусто — вручную)"),
                                    format="%Y-%m-%dT%H:%M", validators=[Optional()])
    image = FileField(lazy_gettext("Изображение (JPEG, PNG, WebP, GIF)"))
    image_alt = StringField(lazy_gettext("Подпись к изображению"), validators=[Optional(), Length(max=300)])


class MailingForm(BaseForm):
    """A mailing by hand: a plan entry's category, its items' period, and the recipients' segment."""

    category = SelectField(lazy_gettext("Рубрика"), choices=[(c.value, lazy(c.title)) for c in NewsCategory])
    days = SelectField(lazy_gettext("Новости за"), choices=[("7", lazy_gettext("неделю")), ("14", lazy_gettext("две недели")),
                                                            ("31", lazy_gettext("месяц"))], default="14")
    segment_org = SelectField(lazy_gettext("Получатели: организация"), choices=[], validate_choice=False)
    segment_category = SelectField(lazy_gettext("Категория членов Профсоюза"),
                                   choices=[("", lazy_gettext("все"))] + [(c.value, lazy(c.title)) for c in Category],
                                   validators=[Optional()])


class ConfirmForm(BaseForm):
    """A button with a CSRF token (unsubscribe)."""
