"""The `portal` command: Flask's commands (run, db, shell) plus demo data, accounts, import and export."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from portal import create_app


@click.group(cls=FlaskGroup, create_app=lambda: create_app())
def main():
    """Профпортал: управление порталом из командной строки."""


@main.command("demo-data")
@click.option("--members", default=2000, show_default=True, help="Сколько членов Профсоюза создать.")
@click.option("--regions", default=18, show_default=True, help="Сколько региональных организаций (до 18).")
@click.option("--seed", default=2026, show_default=True, help="Начальное значение генератора.")
@click.option("--if-empty", is_flag=True, help="Ничего не делать, если в базе уже есть организации.")
@with_appcontext
def demo_data(members: int, regions: int, seed: int, if_empty: bool):
    """Загрузить демонстрационные данные: структуру пилотных регионов, членов Профсоюза и учётные записи."""
    from portal.demo import load_demo
    from portal.extensions import db
    from portal.registry.models import Organisation

    if members < 0 or not 1 <= regions <= 18:
        raise click.BadParameter("Число членов — неотрицательное, регионов — от 1 до 18.")
    if db.session.scalar(select(Organisation.id).limit(1)) is not None:
        if if_empty:
            click.echo("Демо-данные уже загружены.")
            return
        raise click.ClickException("В базе уже есть организации: демо-данные загружаются только в пустую базу.")
    result = load_demo(members=members, seed=seed, regions=regions)
    click.echo(f"Создано организаций: {result['orgs']}, членов Профсоюза: {members}.")
    click.echo(f"Демо-учётные записи (пароль у всех: {result['password']}):")
    for login, role, org in result["accounts"]:
        click.echo(f"  {login:<14} {role} — {org}")


@main.command("create-admin")
@click.argument("login")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_admin(login: str, password: str):
    """Создать администратора ЦС (центральная организация должна существовать)."""
    from portal.auth.models import Role, User
    from portal.extensions import db
    from portal.registry.models import Organisation, OrgLevel

    central = db.session.scalar(select(Organisation).where(Organisation.level == OrgLevel.CENTRAL))
    if central is None:
        raise click.ClickException("Нет центральной организации: сначала создайте структуру (portal demo-data).")
    if len(password) < 10:
        raise click.ClickException("Пароль должен быть не короче 10 символов.")
    if db.session.scalar(select(User.id).where(User.login == login)):
        raise click.ClickException(f"Логин «{login}» уже занят.")
    user = User(login=login, role=Role.CENTRAL_ADMIN, org_id=central.id, must_change_password=False)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Администратор «{login}» создан.")
