"""Declarative mapping tables (data only): one YAML per FHIR resource type, codes, golden cases."""
