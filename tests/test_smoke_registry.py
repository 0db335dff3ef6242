"""First registry tests: the world fixture builds, scope answers 404 for a foreign member."""

from tests.conftest import login


def test_primary_chair_sees_own_member_and_not_foreign(client, world):
    login(client, world.users["primary_chair"])
    own = client.get(f"/members/{world.members['a'].id}")
    assert own.status_code == 200
    assert "Алексеева" in own.get_data(as_text=True)
    foreign = client.get(f"/members/{world.members['a2'].id}")
    missing = client.get("/members/999999")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data() == missing.get_data()
