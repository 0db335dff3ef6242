"""WTForms classes, one module per domain. Every form is a Flask-WTF form, so every POST carries a CSRF token."""

from flask_wtf import FlaskForm


class BaseForm(FlaskForm):
    """Base of every portal form (CSRF-protected)."""

    class Meta:
        locales = ["ru"]

    def add_errors(self, by_field: dict[str, list[str]]) -> None:
        """Put refusals found after validation (a workflow's input guards) next to their fields.

        A message for a field this form does not have (or for none) goes to `form_errors`, shown above the buttons
        by the `form_errors` macro, so nothing the server said is lost.
        """
        extra = list(getattr(self, "_extra_errors", []))
        for name, messages in by_field.items():
            field = self._fields.get(name) if name else None
            if field is None or name in ("csrf_token",):
                extra.extend(messages)
                continue
            field.errors = [*field.errors, *messages]
        self._extra_errors = extra

    @property
    def form_errors(self) -> list[str]:
        return [*getattr(self, "_form_errors", []), *getattr(self, "_extra_errors", [])]

    @form_errors.setter
    def form_errors(self, value) -> None:
        self._form_errors = list(value)
