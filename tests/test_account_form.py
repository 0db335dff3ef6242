"""The account form (issue 9 item 12): only the roles the creating account may grant, a sensible default, and the
organisations in tree order, indented."""

from __future__ import annotations

import lxml.html

from tests.conftest import login


def _select(page: str, name: str) -> list[tuple[str, str, bool]]:
    """(value, text, selected) of a select's options, as the browser shows them."""
    el = lxml.html.fromstring(page).xpath(f'//select[@name="{name}"]')[0]
    return [(o.get("value"), o.text_content(), o.get("selected") is not None) for o in el.xpath(".//option")]


def test_a_territorial_chair_is_offered_only_the_primary_chair_role(client, world):
    login(client, world.users["territorial_chair"])
    page = client.get("/accounts/new").get_data(as_text=True)
    assert _select(page, "role") == [("primary_chair", "Председатель первичной организации", True)]
    orgs = [text for _, text, _ in _select(page, "org_id")]
    assert orgs == [world.school_a2.name, world.school_a.name]  # siblings by name, numbers as numbers


def test_a_regional_chair_sees_the_tree_indented_and_the_default_follows_the_organisation(client, world):
    login(client, world.users["regional_chair"])
    page = client.get("/accounts/new").get_data(as_text=True)
    roles = [value for value, _, _ in _select(page, "role")]
    assert roles == ["territorial_chair", "primary_chair"]  # no central or regional roles
    assert [v for v, _, selected in _select(page, "role") if selected] == ["primary_chair"]
    options = [text for _, text, _ in _select(page, "org_id")]
    # Each territorial organisation is followed by its primaries, indented; a primary right under the region is not.
    assert options.index(world.terr_a.name) + 1 == options.index("— " + world.school_a2.name)
    assert options.index("— " + world.school_a2.name) + 1 == options.index("— " + world.school_a.name)
    assert options.index("— " + world.school_a3.name) == options.index(world.terr_a2.name) + 1
    assert world.college_a.name in options and world.region_a.name not in options
    assert all(world.school_b.name not in o for o in options)  # another region: not offered
    # Opened for one organisation (a link from its page), the form proposes that organisation's role.
    page = client.get(f"/accounts/new?org={world.terr_a.id}").get_data(as_text=True)
    assert [v for v, _, selected in _select(page, "role") if selected] == ["territorial_chair"]
    assert [v for v, _, selected in _select(page, "org_id") if selected] == [str(world.terr_a.id)]


def test_a_role_not_offered_is_refused_next_to_the_field(client, world):
    login(client, world.users["territorial_chair"])
    r = client.post("/accounts/new", data={"org_id": world.school_a.id, "role": "central_admin",
                                           "login": "new-chair", "full_name": "Новикова Нина"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Not a valid choice" not in page
    assert "new-chair" in page


def test_the_forced_change_after_the_first_login_does_not_ask_again_for_the_password_just_typed(client, world,
                                                                                               make_app):
    """Issue 9 item 14: right after logging in with the handed-over password, the change form has no «current
    password» field; the handed-over password itself is not accepted as the new one; a later change asks again."""
    import re

    login(client, world.users["territorial_chair"])
    page = client.post("/accounts/new", data={"org_id": world.school_a.id, "role": "primary_chair",
                                              "login": "new-chair", "full_name": "Новикова Нина"}).get_data(as_text=True)
    temporary = re.search(r'data-testid="new-password"[^>]*>([^<]+)<', page) or re.search(
        r"<code[^>]*>([A-Za-z0-9]{12})</code>", page)
    temporary = temporary.group(1).strip()
    chair = make_app().test_client()
    r = chair.post("/login", data={"login": "new-chair", "password": temporary})
    assert r.headers["Location"].endswith("/password")
    page = chair.get("/password").get_data(as_text=True)
    assert 'name="current"' not in page and 'name="new"' in page
    r = chair.post("/password", data={"new": temporary, "repeat": temporary})
    assert r.status_code == 200 and "должен отличаться" in r.get_data(as_text=True)
    r = chair.post("/password", data={"new": "my-own-password-1", "repeat": "my-own-password-1"})
    assert r.status_code == 302
    assert 'name="current"' in chair.get("/password").get_data(as_text=True)  # an ordinary change asks for it
    r = chair.post("/password", data={"new": "another-password-2", "repeat": "another-password-2"})
    assert r.status_code == 200 and "Введите текущий пароль" in r.get_data(as_text=True)
