"""Test support code: the FHIR R4 / US Core profile validator (``profiles.py``)."""

from __future__ import annotations

from .profiles import ProfileValidator, get_validator

__all__ = ["ProfileValidator", "get_validator"]
