"""Back-office views; see portal.admin.base for the scoping every view inherits."""


def register(app) -> None:
    return None
