"""The JSON API for the union's mobile app (/api/v1/), authenticated by bearer tokens of member accounts."""
