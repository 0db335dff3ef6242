"""The member's side: registration by card, login, the cabinet, the virtual card and its public verification."""
