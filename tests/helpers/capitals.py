"""Country capitals the CLI tests serve from fake endpoints and write as a local data file."""

from __future__ import annotations

CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Colombia": "Bogotá",
    "Peru": "Lima",
    "Chile": "Santiago",
    "Kenya": "Nairobi",
    "Egypt": "Cairo",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Cuba": "Havana",
    "Ghana": "Accra",
    "Nepal": "Kathmandu",
}
