"""Role groups the workflow definitions name (role ids are portal.auth.models.Role values)."""

CHAIRS = ["primary_chair", "territorial_chair", "regional_chair", "regional_staff", "central_admin"]
REGIONAL_OFFICE = ["regional_chair", "regional_staff", "central_admin"]
SYSTEM = ["system"]
