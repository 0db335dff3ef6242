"""The Flask-Admin back office (central and regional staff); every view inherits the scoped base class."""


def init_admin(app) -> None:
    """Register the back office on the app (filled in by portal.admin.views)."""
    from portal.admin.views import register

    register(app)
