"""Demo news: a few hundred realistic items across the rubrics and regions, generated from templates (seed 001's
plan and the union's usual subjects), published through the workflow, then indexed."""

from __future__ import annotations

import random
from datetime import timedelta

from portal import clock
from portal.extensions import db
from portal.news import mailings
from portal.news.content import plain_text
from portal.news.models import NewsCategory, NewsItem, NewsState
from workflows import NEWS_ITEM, fire

CITIES = ["Липецке", "Ельце", "Омске", "Саратове", "Казани", "Воронеже", "Туле", "Калуге", "Твери", "Рязани"]
PARTNERS = ["сети книжных магазинов «Читай-город»", "сервиса «Профкардс»", "сети аптек «Здоровье»",
            "туристического агентства «Тур-Профи»", "магазина спортивных товаров «Старт»", "оптики «Зоркий глаз»"]
CONTESTS = ["«Педагогический дебют»", "«Учитель года»", "«Лучший профорганизатор»", "«Молодой педагог»",
            "«Профсоюзный репортёр»", "«Лучшая первичная профсоюзная организация»"]
TOPICS = ["оплате труда педагогических работников", "охране труда в образовательных организациях",
          "нагрузке учителей", "отпуске педагогов", "аттестации педагогических работников",
          "социальной поддержке молодых педагогов", "санаторно-курортном лечении членов Профсоюза"]

TEMPLATES = {
    NewsCategory.UNION: [
        ("Президиум ЦС Профсоюза рассмотрел вопрос о {topic}",
         "На заседании Президиума Центрального Совета Профсоюза обсуждался вопрос о {topic}.",
         ["Члены Президиума отметили, что профсоюзные организации регионов ведут системную работу по защите "
          "прав работников образования.", "Принято постановление направить предложения Профсоюза в Министерство "
          "просвещения Российской Федерации.", "Первичным профсоюзным организациям рекомендовано провести "
          "собрания и довести решения до каждого члена Профсоюза."]),
        ("Профсоюз добился изменений в вопросе о {topic}",
         "Благодаря настойчивой позиции Профсоюза удалось урегулировать вопрос о {topic}.",
         ["Председатель Профсоюза подчеркнул, что результат достигнут благодаря активности первичных организаций.",
          "Разъяснения для членов Профсоюза подготовлены правовой инспекцией труда.",
          "Вопросы можно задать председателю своей первичной профсоюзной организации."]),
    ],
    NewsCategory.REGIONAL: [
        ("В {city} прошёл семинар для председателей первичных организаций",
         "{region} провела обучающий семинар для профсоюзного актива.",
         ["Участники обсудили вопросы о {topic} и порядок оформления электронных профсоюзных билетов.",
          "Специалисты аппарата рассказали о программе лояльности для членов Профсоюза.",
          "Следующий семинар запланирован на следующий квартал."]),
        ("{region}: итоги проверки соблюдения трудовых прав",
         "Технические инспекторы труда завершили плановую проверку в образовательных организациях.",
         ["Выявленные нарушения касались в основном вопросов о {topic}.",
          "Работодателям выданы представления об устранении нарушений.", "Профсоюз продолжит контроль."]),
    ],
    NewsCategory.INSTRUCTIONS: [
        ("Как получить электронный профсоюзный билет",
         "Пошаговая инструкция для членов Профсоюза: от согласия на обработку данных до получения карты.",
         ["Подпишите согласие на обработку персональных данных у председателя первичной организации.",
          "Председатель включит вас в заявку на выпуск карт; заявки обрабатываются 1 и 15 числа.",
          "Карта придёт в региональную организацию в течение 14 календарных дней."]),
        ("Как активировать личный кабинет ПРОФКАРДС",
         "Инструкция по регистрации в личном кабинете по номеру профсоюзного билета.",
         ["Введите 16-значный номер билета и адрес электронной почты.",
          "Подтвердите адрес по ссылке из письма и задайте пароль.", "Бонусы начисляются за покупки у партнёров."]),
    ],
    NewsCategory.PARTNERS: [
        ("Скидка для членов Профсоюза от {partner}",
         "Члены Профсоюза получают скидку при оплате электронным профсоюзным билетом.",
         ["Предложение действует до конца месяца при предъявлении карты.",
          "Бонусы зачисляются на счёт в личном кабинете ПРОФКАРДС.",
          "Переход на сайт партнёра должен быть выполнен из личного кабинета."]),
    ],
    NewsCategory.CONTESTS: [
        ("Объявлен конкурс {contest}",
         "Профсоюз приглашает к участию в конкурсе {contest}.",
         ["Заявки принимаются через первичные профсоюзные организации.",
          "Победители получат дипломы и бонусные баллы программы лояльности.",
          "Итоги будут подведены на заседании Президиума."]),
        ("Подведены итоги конкурса {contest}",
         "Жюри определило победителей конкурса {contest}.",
         ["Среди победителей — педагоги из {city}.", "Награждение состоится на отчётной конференции.",
          "Профсоюз благодарит всех участников."]),
    ],
    NewsCategory.FINANCE: [
        ("Финансовая грамотность: как составить семейный бюджет",
         "Полезные советы о планировании расходов и накоплений.",
         ["Записывайте доходы и расходы хотя бы месяц, чтобы увидеть картину целиком.",
          "Откладывайте фиксированную долю дохода сразу после получения зарплаты.",
          "Богат не тот, кто много зарабатывает, а тот, кто правильно распоряжается деньгами!"]),
        ("Как не стать жертвой финансовых мошенников",
         "Напоминаем правила безопасности при оплате картой и звонках от «службы безопасности банка».",
         ["Никому не сообщайте код из СМС.", "Банк никогда не просит перевести деньги на «безопасный счёт».",
          "При сомнениях положите трубку и перезвоните в банк по номеру на карте."]),
    ],
}
WEIGHTS = {NewsCategory.UNION: 3, NewsCategory.REGIONAL: 4, NewsCategory.INSTRUCTIONS: 1,
           NewsCategory.PARTNERS: 2, NewsCategory.CONTESTS: 2, NewsCategory.FINANCE: 1}


def make_items(rng: random.Random, central, regions: list, count: int = 300) -> list[NewsItem]:
    """Draft items with realistic text, spread over the past year (published later through the workflow)."""
    now = clock.now()
    cats = [c for c, w in WEIGHTS.items() for _ in range(w)]
    items = []
    for _ in range(count):
        category = rng.choice(cats)
        title, lead, paragraphs = rng.choice(TEMPLATES[category])
        region = rng.choice(regions)
        values = {"topic": rng.choice(TOPICS), "city": rng.choice(CITIES), "partner": rng.choice(PARTNERS),
                  "contest": rng.choice(CONTESTS), "region": region.short_name or region.name}
        body = "".join(f"<p>{p.format(**values)}</p>" for p in rng.sample(paragraphs, len(paragraphs)))
        regional = category == NewsCategory.REGIONAL
        item = NewsItem(org_id=(region if regional else central).id, title=title.format(**values)[:300],
                        lead=lead.format(**values), body=body, body_text=plain_text(body), category=category,
                        state=NewsState.DRAFT, version=1, is_public=rng.random() < 0.4,
                        audience_all=not regional, audience_orgs=[region] if regional else [],
                        audience_categories="", publish_at=now - timedelta(days=rng.uniform(0, 365)),
                        created_at=now, updated_at=now)
        items.append(item)
    db.session.add_all(items)
    db.session.flush()
    return items


def load_demo_news(rng: random.Random, central, regions: list, editor, count: int = 300) -> int:
    """Write, publish (as the scheduled job would) and partly archive demo items; no mailings are sent for them."""
    items = make_items(rng, central, regions, count)
    with mailings.paused():
        for item in items:
            fire(NEWS_ITEM, item, "publish_scheduled", None)
        cutoff = clock.now() - timedelta(days=300)
        for item in items:
            if item.published_at < cutoff:
                fire(NEWS_ITEM, item, "archive", editor)
    return len(items)
