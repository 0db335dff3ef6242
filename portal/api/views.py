"""JSON API v1 for the union's mobile app: bearer-token login by card number + password, the card, my data, consent,
petitions. The same rules as the cabinet's pages (portal.cabinet.operations), JSON errors with a Russian message.

Authentication is only the `Authorization: Bearer …` header — never the session cookie — so the blueprint is
exempt from CSRF (a browser cannot be made to send the header cross-site). The OpenAPI 3 document at
/api/v1/openapi.json is built from these views' docstrings by apispec.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, g, jsonify, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from portal.cabinet import operations as ops
from portal.extensions import csrf, db
from portal.i18n import N_
from workflows import WorkflowError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MESSAGES = {
    400: N_("Запрос не понят. Проверьте данные и попробуйте снова."),
    401: N_("Нужен действующий токен доступа: войдите по номеру билета и паролю."),
    403: N_("Недостаточно прав."),
    404: N_("Не найдено."),
    405: N_("Этот метод здесь не поддерживается."),
    409: N_("Действие невозможно в текущем состоянии."),
    415: N_("Тело запроса должно быть JSON."),
    429: N_("Слишком много попыток. Подождите и попробуйте снова."),
    500: N_("Внутренняя ошибка. Попробуйте позже."),
}


def error(status: int, message: str | None = None, **extra):
    """A JSON error: {"error": {"status": …, "message": "<Russian text>"}}."""
    body = {"error": {"status": status, "message": message or gettext(MESSAGES.get(status, N_("Ошибка."))), **extra}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="profportal"'
    return response


def json_error(err) -> object:
    """The app's error handler for /api/ paths (routing 404s and 405s included): JSON instead of a page."""
    status = err.code if isinstance(err, HTTPException) and err.code else 500
    if status == 500:
        db.session.rollback()
    description = getattr(err, "description", None)
    own = isinstance(description, str) and description != getattr(type(err), "description", None)
    return error(status, description if own else None)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def member_required(view):
    """The view needs a live bearer token of an open member account; 401 otherwise."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        account = ops.api_account(_bearer())
        if account is None:
            db.session.rollback()
            return error(401)
        g.api_account = account
        g.no_store = True
        response = view(*args, **kwargs)
        db.session.commit()  # last_used_at of the token
        return response

    return wrapper


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(415 if not request.is_json else 400)
    return data


@bp.route("/token", methods=["POST"])
def token_login():
    """Log in with card number and password; returns a bearer token.
    ---
    post:
      summary: Вход по номеру билета и паролю
      tags: [auth]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Login'}
      responses:
        201:
          description: Токен выдан
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Token'}
        401: {$ref: '#/components/responses/Error'}
        403: {$ref: '#/components/responses/Error'}
        429: {$ref: '#/components/responses/Error'}
    """
    data = _json_body()
    card, password = data.get("card_number"), data.get("password")
    if not isinstance(card, str) or not isinstance(password, str) or not card or not password or len(password) > 200:
        return error(400, gettext("Укажите номер билета (card_number) и пароль (password)."))
    account, wait = ops.authenticate(card, password)  # an unknown card burns a dummy hash: same time as a wrong one
    if wait:
        return error(429, gettext("Слишком много неудачных попыток. Повторите через %(wait)s с.", wait=wait),
                     retry_after=wait)
    if account is None:
        return error(401, gettext("Неверный номер билета или пароль."))
    problem = ops.login_problem(account)
    if problem:
        db.session.commit()
        return error(403, problem)
    raw, expires = ops.issue_api_token(account, label=str(data.get("device") or "")[:100] or "API")
    ops.record_login(account, via="api")
    db.session.commit()
    return jsonify({"token": raw, "token_type": "Bearer", "expires_at": expires.isoformat()}), 201


@bp.route("/token", methods=["DELETE"])
@member_required
def token_logout():
    """Revoke the token used for this request.
    ---
    delete:
      summary: Выход (отзыв текущего токена)
      tags: [auth]
      security: [{bearer: []}]
      responses:
        204: {description: Токен отозван}
        401: {$ref: '#/components/responses/Error'}
    """
    from sqlalchemy import select

    from portal.cabinet.models import MemberToken, token_hash

    token = db.session.scalar(select(MemberToken).where(MemberToken.token_hash == token_hash(_bearer())))
    ops.revoke_api_token(g.api_account, token.id)
    return "", 204


@bp.route("/card")
@member_required
def card():
    """The virtual card.
    ---
    get:
      summary: Электронный профсоюзный билет
      tags: [member]
      security: [{bearer: []}]
      responses:
        200:
          description: Билет
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Card'}
        401: {$ref: '#/components/responses/Error'}
    """
    return jsonify(ops.card_data(g.api_account))


@bp.route("/me")
@member_required
def me():
    """Everything the registry and the cabinet hold about me (152-FZ art. 14).
    ---
    get:
      summary: Мои данные
      tags: [member]
      security: [{bearer: []}]
      responses:
        200:
          description: Данные реестра, история, согласие, кто читал, ходатайства, семья
          content:
            application/json:
              schema: {type: object}
        401: {$ref: '#/components/responses/Error'}
    """
    return jsonify(ops.my_data(g.api_account))


@bp.route("/consent")
@member_required
def consent():
    """My consent and its history.
    ---
    get:
      summary: Согласие на обработку персональных данных
      tags: [consent]
      security: [{bearer: []}]
      responses:
        200:
          description: Состояние и история
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Consent'}
        401: {$ref: '#/components/responses/Error'}
    """
    member = g.api_account.member
    return jsonify({"status": member.consent_status.value, "status_title": member.consent_status.label,
                    "history": [{"kind": r.kind, "on_date": r.on_date.isoformat()}
                                for r in ops.consent_history(member)]})


@bp.route("/consent/withdraw", methods=["POST"])
@member_required
def consent_withdraw():
    """Withdraw consent (the chairs' transition, with its effects); the account closes and every token ends.
    ---
    post:
      summary: Отозвать согласие
      tags: [consent]
      security: [{bearer: []}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [confirm]
              properties: {confirm: {type: boolean, enum: [true]}}
      responses:
        200: {description: 'Согласие отозвано, личный кабинет закрыт'}
        400: {$ref: '#/components/responses/Error'}
        401: {$ref: '#/components/responses/Error'}
        409: {$ref: '#/components/responses/Error'}
    """
    if _json_body().get("confirm") is not True:
        return error(400, gettext("Подтвердите отзыв согласия: {\"confirm\": true}."))
    try:
        ops.withdraw_consent(g.api_account)
    except WorkflowError as err:
        db.session.rollback()
        return error(409, str(err))
    return jsonify({"status": "withdrawn", "account": "closed"})


@bp.route("/petitions")
@member_required
def petitions():
    """My material-aid petitions and their states.
    ---
    get:
      summary: Мои ходатайства о материальной помощи
      tags: [member]
      security: [{bearer: []}]
      responses:
        200:
          description: Ходатайства
          content:
            application/json:
              schema:
                type: array
                items: {$ref: '#/components/schemas/Petition'}
        401: {$ref: '#/components/responses/Error'}
    """
    return jsonify(ops.petition_data(g.api_account.member))


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API, generated from the views above.
    ---
    get:
      summary: Описание API (OpenAPI 3)
      tags: [meta]
      responses:
        200: {description: Документ OpenAPI}
    """
    from portal.api.spec import build_spec

    return jsonify(build_spec())


bp.register_error_handler(HTTPException, json_error)  # errors raised inside the API's views (415, 400 …)
