"""Role groups the workflow definitions name (role ids are portal.auth.models.Role values)."""

CHAIRS = ["primary_chair", "territorial_chair", "regional_chair", "regional_staff", "central_admin"]
REGIONAL_OFFICE = ["regional_chair", "regional_staff", "central_admin"]
SYSTEM = ["system"]
# Material aid (SPEC §6): only the region's own people act on its petitions.
AID_REVIEWERS = ["regional_staff", "regional_chair"]
PRESIDIUM = ["presidium_member"]
REGIONAL_CHAIRMAN = ["regional_chair"]
ACCOUNTANTS = ["accountant"]
# News (SPEC §8): the editors write and publish; the scheduled publication is the job's.
NEWS_EDITORS = ["news_editor", "central_admin"]
# A member acting on their own record from the cabinet (consent withdrawal: the same transition chairs fire).
MEMBER = ["member"]
