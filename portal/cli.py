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


# ---- scheduled jobs and the worker ----------------------------------------------------------------------------------


@main.group("jobs")
def jobs_cli():
    """Задания по расписанию: список, запуск наступивших, запуск вручную."""


@jobs_cli.command("run-due")
@with_appcontext
def jobs_run_due():
    """Выполнить задания, срок которых наступил (безопасно вызывать из cron каждую минуту)."""
    from portal.jobs.runner import run_due
    from portal.jobs.worker import describe_run

    runs = run_due()
    if not runs:
        click.echo("Нет заданий к запуску.")
    for run in runs:
        click.echo(describe_run(run))
    if any(run.status == "failed" for run in runs):
        raise SystemExit(1)


@jobs_cli.command("list")
@with_appcontext
def jobs_list():
    """Зарегистрированные задания, их расписание и последний запуск."""
    from portal.jobs.runner import last_runs
    from portal.jobs.schedule import all_jobs
    from portal.jobs.worker import describe_run

    jobs = all_jobs()
    if not jobs:
        click.echo("Заданий нет.")
    for job in jobs:
        last = last_runs(job.name, limit=1)
        click.echo(f"{job.name}: {job.title} — {job.schedule.describe()}, догонять: {job.catch_up}")
        click.echo(f"  последний запуск: {describe_run(last[0]) if last else 'не было'}")


@jobs_cli.command("run")
@click.argument("name")
@click.option("--slot", help="Запустить за этот срок (МСК), например «2026-03-01 00:00»; без него — сейчас.")
@with_appcontext
def jobs_run(name: str, slot: str | None):
    """Запустить задание NAME сейчас."""
    from datetime import datetime

    from portal.jobs.runner import JobError, run_job
    from portal.jobs.schedule import MOSCOW
    from portal.jobs.worker import describe_run

    when = None
    if slot:
        try:
            when = datetime.strptime(slot.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=MOSCOW)
        except ValueError:
            raise click.BadParameter("Формат: ГГГГ-ММ-ДД ЧЧ:ММ.", param_hint="--slot") from None
    try:
        run = run_job(name, when)
    except JobError as err:
        raise click.ClickException(str(err)) from None
    click.echo(describe_run(run))
    if run.status == "failed":
        raise SystemExit(1)


@main.command("worker")
@click.option("--once", is_flag=True, help="Сделать один проход и выйти.")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Пауза между проходами, секунд.")
@with_appcontext
def worker(once: bool, interval: float):
    """Фоновый процесс: задания по расписанию и отправка почты из очереди (SIGTERM — мягкая остановка)."""
    from portal.jobs.worker import Worker

    if not once:
        click.echo(f"Профпортал: обработчик заданий и почты запущен, проход каждые {interval:g} с.")
    ok = Worker(interval, echo=click.echo).run(once=once)
    if not ok and once:
        raise SystemExit(1)
