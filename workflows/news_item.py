"""Workflow of a news item (SPEC §8): written as a draft, published (at once or at a scheduled time), archived."""

from workflows.i18n import N_
from workflows.roles import NEWS_EDITORS, SYSTEM

DEFINITION = {
    "name": "news_item",
    "title": N_("Новость"),
    "description": N_("Редактор готовит новость, публикует её сразу или назначает время публикации; "
                      "устаревшие новости уходят в архив."),
    "state_attr": "state",
    "version_attr": "version",
    "initial": "draft",
    "states": {
        "draft": {"meaning": "neutral", "title": N_("черновик"), "description": N_("Видна только редакторам; может ждать назначенного времени.")},
        "published": {"meaning": "done", "title": N_("опубликована"), "description": N_("Видна своей аудитории и находится поиском.")},
        "archived": {"meaning": "neutral", "title": N_("в архиве"), "description": N_("Видна сотрудникам в архиве; участникам не показывается.")},
    },
    "transitions": [
        {"name": "publish", "title": N_("Опубликовать"), "source": "draft", "dest": "published",
         "roles": NEWS_EDITORS, "guards": ["news_is_complete"], "effects": ["news_published"]},
        {"name": "publish_scheduled", "title": N_("Опубликовать по расписанию"), "source": "draft",
         "dest": "published", "roles": SYSTEM, "guards": ["news_is_complete", "news_is_due"],
         "effects": ["news_published"],
         "description": N_("Выполняет задание публикации, когда наступило назначенное время.")},
        {"name": "archive", "title": N_("В архив"), "source": "published", "dest": "archived",
         "roles": NEWS_EDITORS, "effects": ["news_archived"]},
        {"name": "restore", "title": N_("Вернуть из архива"), "source": "archived", "dest": "published",
         "roles": NEWS_EDITORS, "effects": ["news_restored"]},
    ],
}
