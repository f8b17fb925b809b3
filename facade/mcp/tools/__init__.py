"""The MCP tools, one module per family; importing this package registers them all.

A new family (coverage and eligibility, claims) is one more module here, imported below.
"""

from facade.mcp.tools import (
    appointments,
    claims,
    coverage,
    encounters,
    fhir,
    patients,
    scheduling,
)

__all__ = ["appointments", "claims", "coverage", "encounters", "fhir", "patients", "scheduling"]
