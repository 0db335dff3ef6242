"""Messages about a member in the member's gender (issue 9 item 18): «Вступила раньше, чем родилась», «поставлена на
учёт» — never «поставлен(а)»; the neutral wording only where the gender is not known."""

from __future__ import annotations

from datetime import date

import pytest

from portal.registry.models import Gender
from portal.registry.rules import check_member
from portal.text import gendered
from tests.conftest import create_member, login, member_data


@pytest.mark.parametrize("gender,message", [(Gender.FEMALE, "вступила раньше, чем родилась"),
                                            (Gender.MALE, "вступил раньше, чем родился"),
                                            (None, "дата вступления раньше даты рождения")])
def test_joined_before_birth_speaks_of_the_member_in_their_gender(gender, message):
    data = member_data(gender=gender, joined_on=date(1980, 1, 1))
    assert check_member(data)["joined_on"] == message


def test_gendered_picks_the_variant_by_value_too():
    assert gendered("F", "он", "она") == "она" and gendered("M", "он", "она") == "он"
    assert gendered(None, "он", "она", "человек") == "человек" and gendered("", "он", "она") == "он"


def _form(**overrides) -> dict:
    data = {"last_name": "Соколова", "first_name": "Ольга", "patronymic": "Ивановна", "birth_date": "1980-04-02",
            "gender": "F", "position": "учитель", "education": "higher", "dues_form": "cashless",
            "joined_on": "2005-09-01", "category": "working", "department": "", "address": "", "phone": "",
            "email": ""}
    data.update(overrides)
    return data


@pytest.mark.parametrize("gender,surname,flash", [("F", "Соколова", "Соколова Ольга Ивановна поставлена на учёт."),
                                                  ("M", "Соколов", "Соколов Ольга Ивановна поставлен на учёт.")])
def test_registration_flash_in_the_members_gender(client, world, gender, surname, flash):
    login(client, world.users["primary_chair"])
    r = client.post(f"/orgs/{world.school_a.id}/members/new", data=_form(gender=gender, last_name=surname),
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    assert flash in page and "(а)" not in page


def test_a_member_in_another_request_is_named_in_their_gender(client, world):
    from portal.cards.operations import member_card_problem
    from portal.registry.models import ConsentStatus

    m = create_member(world.school_a, gender=Gender.FEMALE)
    m.consent_status = ConsentStatus.SIGNED
    assert member_card_problem(m, None, {m.id}).endswith("уже включена в другую заявку.")
    m.gender = Gender.MALE
    assert member_card_problem(m, None, {m.id}).endswith("уже включён в другую заявку.")
