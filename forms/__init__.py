"""WTForms classes, one module per domain. Every form is a Flask-WTF form, so every POST carries a CSRF token."""

from flask_wtf import FlaskForm


class BaseForm(FlaskForm):
    """Base of every portal form (CSRF-protected)."""

    class Meta:
        locales = ["ru"]
