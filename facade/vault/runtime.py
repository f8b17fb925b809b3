"""The settings' secrets from the vault, when one is configured (README "Credential vault").

Configured = a master key in ``FACADE_VAULT_MASTER_KEY`` or ``FACADE_VAULT_KEY_FILE``.
Then, at start (:func:`resolve`), every secret the vault holds under a name of
:data:`SECRETS` replaces the setting of that name, and the server's generated signing key
lives in the vault (``signing_key``, hex; an existing ``signing.key`` file is moved in and
deleted) instead of a plaintext file. Without a master key nothing changes: the local-dev
defaults work with zero setup.
"""

from __future__ import annotations

import secrets

from pydantic import SecretStr

from facade.settings import Settings
from facade.vault.keys import KeyProvider, LocalKeyProvider, VaultError
from facade.vault.vault import Vault

FILE = "vault.json"
# vault name -> the setting it supplies
SECRETS = ("athena_client_secret", "signing_secret", "events_athena_push_secret")
SIGNING_KEY = "signing_key"  # the generated HMAC key (hex), when FACADE_SIGNING_SECRET is unset
NAMES = (*SECRETS, SIGNING_KEY)


def provider_of(settings: Settings) -> KeyProvider | None:
    if settings.vault_master_key is not None:
        return LocalKeyProvider.parse(settings.vault_master_key.get_secret_value())
    if settings.vault_key_file is not None:
        return LocalKeyProvider.from_file(settings.vault_key_file)
    return None


def open_vault(settings: Settings) -> Vault | None:
    provider = provider_of(settings)
    return None if provider is None else Vault(settings.data_dir / FILE, provider)


def resolve(settings: Settings) -> Settings:
    """``settings`` with the vault's secrets in place (the same object without a vault)."""
    vault = open_vault(settings)
    if vault is None:
        return settings
    updates = {name: vault.get(name) for name in SECRETS}
    found = {name: SecretStr(value) for name, value in updates.items() if value is not None}
    if settings.environment != "embedded" and not (
        settings.athena_client_secret or "athena_client_secret" in found
    ):
        raise VaultError(
            f"{settings.environment} needs the athena client secret: FACADE_ATHENA_CLIENT_SECRET"
            " or `athena-facade vault set athena_client_secret`"
        )
    return settings.model_copy(update=found) if found else settings


def generated_signing_key(settings: Settings) -> bytes | None:
    """The vault's generated signing key (created, or moved from ``signing.key``, on first
    use); None without a vault."""
    vault = open_vault(settings)
    if vault is None:
        return None
    stored = vault.get(SIGNING_KEY)
    if stored is not None:
        return bytes.fromhex(stored)
    legacy = settings.data_dir / "signing.key"
    key = bytes.fromhex(legacy.read_text().strip()) if legacy.exists() else secrets.token_bytes(32)
    kept = bytes.fromhex(vault.setdefault(SIGNING_KEY, key.hex()))  # another process may win
    legacy.unlink(missing_ok=True)
    return kept
