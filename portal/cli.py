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
    if result.get("members"):
        click.echo("Личный кабинет члена Профсоюза (/cabinet/login, логин — номер билета, тот же пароль):")
        for number, name in result["members"]:
            click.echo(f"  {number} {name}")


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


def _cli_actor(login: str | None, org, permission: str):
    """The account a command acts for: its permission and scope are checked like on the web; None = the operator."""
    from portal import policy
    from portal.auth.models import User
    from portal.extensions import db

    if not login:
        return None
    user = db.session.scalar(select(User).where(User.login == login))
    if user is None or not user.is_enabled:
        raise click.ClickException(f"Нет действующей учётной записи «{login}».")
    if not (policy.has_permission(user, permission) and policy.org_in_scope(user, org)):
        raise click.ClickException(f"У «{login}» нет права на это действие в организации № {org.id}.")
    return user


def _cli_org(org_id: int):
    from portal.extensions import db
    from portal.registry.models import Organisation

    org = db.session.get(Organisation, org_id)
    if org is None:
        raise click.ClickException(f"Организация № {org_id} не найдена.")
    return org


@main.command("import-members")
@click.argument("org_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--dry-run", is_flag=True, help="Только проверить список: ничего не записывать.")
@click.option("--mapping", "mappings", multiple=True, metavar="ПОЛЕ=СТОЛБЕЦ",
              help="Исправить сопоставление: поле (birth_date или «Дата рождения») = название столбца или его "
                   "номер с 1; пустой столбец — не загружать поле. Можно повторять.")
@click.option("--user", "login", help="Логин, от имени которого загружать (проверяются его права и область).")
@with_appcontext
def import_members(org_id: int, file: str, dry_run: bool, mappings: tuple[str, ...], login: str | None):
    """Загрузить список членов Профсоюза (XLSX или CSV) в первичную организацию."""
    from pathlib import Path

    from portal.extensions import db
    from portal.policy import Permission
    from portal.registry.imports import MemberImportError, import_file

    org = _cli_org(org_id)
    actor = _cli_actor(login, org, Permission.IMPORT_MEMBERS)
    overrides: dict = {}
    for item in mappings:
        name, sep, column = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"«{item}»: нужно ПОЛЕ=СТОЛБЕЦ.", param_hint="--mapping")
        column = column.strip()
        # The command line counts columns from 1, as a person does; the API counts from 0.
        overrides[name.strip()] = (int(column) - 1) if column.isdigit() else (column or None)

    def progress(done: int, total: int | None) -> None:
        if not dry_run:
            db.session.commit()  # each written chunk is kept; a re-run skips what is already registered
        click.echo(f"  обработано строк: {done}" + (f" из ~{total}" if total else ""), err=True)

    try:
        result = import_file(org, Path(file), Path(file).name, actor, dry_run=dry_run, mapping=overrides or None,
                             progress=progress, audit_details={"via": "cli"})
    except MemberImportError as e:
        db.session.rollback()
        raise click.ClickException(e.message) from None
    db.session.commit()
    click.echo(("Проверка (ничего не записано)" if dry_run else "Загрузка") + f": «{org}».")
    click.echo(f"Строк: {result.rows}; " + (f"можно загрузить: {result.would_import}" if dry_run else
                                           f"поставлено на учёт: {result.imported}")
               + f"; повторов: {result.duplicates}; с ошибками: {len(result.refused)}.")
    for number, name, reason in result.refused:
        click.echo(f"  строка {number}: {name or '(без имени)'} — {reason}")
    for number, name, reason in result.duplicate_rows:
        click.echo(f"  строка {number}: {name} — повтор: {reason}")


@main.command("export-members")
@click.argument("org_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--filter", "filters", multiple=True, metavar="КЛЮЧ=ЗНАЧЕНИЕ",
              help="Отбор, как в списке на портале: status=all, category=student, consent=none, q=Иванов…")
@click.option("--user", "login", help="Логин, от имени которого выгружать (видны только его члены Профсоюза).")
@with_appcontext
def export_members_command(org_id: int, out: str, filters: tuple[str, ...], login: str | None):
    """Выгрузить членов Профсоюза организации и нижестоящих в XLSX."""
    import os

    from portal.extensions import db
    from portal.policy import Permission
    from portal.registry.exports import export_members
    from portal.registry.imports import MemberImportError

    org = _cli_org(org_id)
    actor = _cli_actor(login, org, Permission.EXPORT_MEMBERS)
    args = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"«{item}»: нужно КЛЮЧ=ЗНАЧЕНИЕ.", param_hint="--filter")
        args[key.strip()] = value.strip()
    try:
        with open(out, "wb") as f:
            count = export_members(org, actor, args, f)
    except MemberImportError as e:
        db.session.rollback()
        os.remove(out)  # no half-written file of personal data left behind
        raise click.ClickException(e.message) from None
    db.session.commit()
    click.echo(f"Выгружено членов Профсоюза: {count} → {out}")


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


@main.group("search")
def search_group():
    """Полнотекстовый поиск по новостям (search_index)."""


@search_group.command("rebuild")
@with_appcontext
def search_rebuild():
    """Перестроить индекс поиска из базы данных (публикация и поиск при этом продолжают работать)."""
    import time

    import search_index
    from portal.news import operations  # noqa: F401  (registers the news source)

    started = time.monotonic()
    n = search_index.rebuild("news")
    click.echo(f"Проиндексировано новостей: {n} за {time.monotonic() - started:.1f} с "
               f"({search_index.get_backend().name}).")


@search_group.command("sync")
@with_appcontext
def search_sync():
    """Применить к индексу накопившиеся изменения (то же делает `portal worker`)."""
    import search_index
    from portal.news import operations  # noqa: F401

    before = search_index.pending()
    search_index.sync()
    click.echo(f"Применено изменений: {before - search_index.pending()}, осталось: {search_index.pending()}.")


@main.group("stats")
def stats_group():
    """Статистика: проверка и пересчёт счётчиков членов Профсоюза по организациям."""


@stats_group.command("check")
@with_appcontext
def stats_check():
    """Пересчитать все счётчики с нуля и сравнить с хранимыми; код выхода 1, если есть расхождения."""
    from portal.stats.counts import check

    diffs = check()
    for org_id, key, kept, actual in diffs:
        click.echo(f"организация {org_id}: {key}: хранится {kept}, на самом деле {actual}")
    if diffs:
        click.echo(f"Расхождений: {len(diffs)}. Исправить: portal stats rebuild.")
        raise SystemExit(1)
    click.echo("Счётчики сходятся с реестром.")


@stats_group.command("rebuild")
@with_appcontext
def stats_rebuild():
    """Пересчитать все счётчики с нуля (после массовой загрузки мимо портала или найденного расхождения)."""
    from portal.extensions import db
    from portal.stats.counts import rebuild_all

    rebuild_all()
    db.session.commit()
    click.echo("Счётчики пересчитаны.")
