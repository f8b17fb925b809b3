"""The credential vault (README "Credential vault"): secrets encrypted at rest with envelope
encryption, master keys behind a :class:`~facade.vault.keys.KeyProvider`.

keys.py     KeyProvider (the master keys: wrap and unwrap data keys) and the local provider
            (keys from FACADE_VAULT_MASTER_KEY or FACADE_VAULT_KEY_FILE)
vault.py    Vault: named secrets in {data_dir}/vault.json, and sealed values kept elsewhere
            (webhook secrets in events.sqlite3); rotate re-wraps under the active key
runtime.py  the settings' secrets from the vault when it is configured
cli.py      ``athena-facade vault set|list|rotate``
"""
