"""Member lists to import, shaped like tests/data: a 1C CSV export and a chair's XLSX list.

The people are new to the registry (double-barrelled surnames the generated registry never uses) and unique
within the file, so every row should be imported: the rate measured is the rate of the happy path.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta

from openpyxl import Workbook

from bench.generate import NamePools
from portal.demo import POSITIONS_WORKING
from portal.text import fold

CSV_HEADER = ["Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Место работы", "Должность", "Образование",
              "Форма уплаты взносов", "Дата вступления в Профсоюз", "Категория", "Телефон", "E-mail",
              "Адрес проживания"]
XLSX_HEADER = ["ФИО", "Пол", "Дата рождения", "Должность", "Образование", "Форма уплаты взносов",
               "Дата вступления в Профсоюз", "Категория", "Телефон", "E-mail"]


def people(count: int, seed: int, today: date):
    """Yield dicts of new, distinct people with valid data."""
    rng = random.Random(seed)
    pools = NamePools()
    seen: set[str] = set()
    made = 0
    while made < count:
        female = rng.random() < 0.8
        g = "F" if female else "M"
        a = pools.last[rng.randrange(len(pools.last))][1 if female else 0]
        b = pools.last[rng.randrange(len(pools.last))][1 if female else 0]
        if a == b:
            continue
        last = f"{a}-{b}"
        first = rng.choice(pools.first[g])
        middle = rng.choice(pools.middle[g])
        birth = today - timedelta(days=rng.randint(22 * 365, 64 * 365))
        key = f"{fold(last)}|{fold(first)}|{fold(middle)}|{birth.isoformat()}"
        if key in seen:
            continue
        seen.add(key)
        joined = birth + timedelta(days=18 * 365 + rng.randint(0, (today - birth).days - 18 * 365 - 1))
        made += 1
        yield {
            "last": last, "first": first, "middle": middle, "birth": birth, "gender": "Ж" if female else "М",
            "position": rng.choice(POSITIONS_WORKING),
            "education": rng.choice(["высшее", "высшее", "высшее", "среднее профессиональное"]),
            "dues": rng.choice(["безналичная"] * 4 + ["наличная"]), "joined": joined, "category": "работающий",
            "phone": f"+7 (474) {rng.randint(200, 299)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",
            "email": f"user{made}@school.example.ru" if rng.random() < 0.6 else "",
        }


def write_csv(path, count: int, seed: int, workplace: str) -> int:
    today = date.today()
    with open(path, "w", encoding="cp1251", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\r\n")
        w.writerow(CSV_HEADER)
        for p in people(count, seed, today):
            w.writerow([p["last"], p["first"], p["middle"], p["birth"].strftime("%d.%m.%Y"), p["gender"], workplace,
                        p["position"], p["education"], p["dues"], p["joined"].strftime("%d.%m.%Y"), p["category"],
                        p["phone"], p["email"], ""])
    return count


def write_xlsx(path, count: int, seed: int, workplace: str) -> int:
    today = date.today()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Члены Профсоюза")
    ws.append(["Список членов профсоюзной организации"])
    ws.append([workplace])
    ws.append([])
    ws.append(XLSX_HEADER)
    for p in people(count, seed, today):
        ws.append([f"{p['last']} {p['first']} {p['middle']}", p["gender"],
                   datetime.combine(p["birth"], datetime.min.time()), p["position"], p["education"], p["dues"],
                   datetime.combine(p["joined"], datetime.min.time()), p["category"], p["phone"],
                   p["email"] or None])
    wb.save(path)
    return count
