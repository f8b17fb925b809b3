"""The SMART-enabled facade of tests/auth (patient-limited tokens for the compartment tests)."""

from tests.auth.conftest import client_keys, http, jwks_url, smart_data_dir, smart_url

__all__ = ["client_keys", "http", "jwks_url", "smart_data_dir", "smart_url"]
