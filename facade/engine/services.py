"""Everything a request needs, created once in the app's lifespan and injected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from facade.audit.recorder import Disabled, Recorder
from facade.auth.server import AuthorizationServer
from facade.auth.tokens import TokenIssuer
from facade.cache import EntityCache
from facade.engine.directory import DepartmentDirectory
from facade.mapping.loader import Mappings
from facade.search import CursorCodec
from facade.settings import Settings
from facade.store.eligibility import EligibilityStore
from facade.store.ledger import IdempotencyLedger
from facade.upstream.client import AthenaClient
from facade.vault.vault import Vault


@dataclass
class Services:
    settings: Settings
    mappings: Mappings
    athena: AthenaClient
    issuer: TokenIssuer
    cursors: CursorCodec
    cache: EntityCache
    capability: dict[str, object]
    smart_configuration: dict[str, object]
    authz: AuthorizationServer
    openid_configuration: dict[str, object]
    directory: DepartmentDirectory
    ledger: IdempotencyLedger
    operation_definitions: dict[str, dict[str, object]]
    eligibility: EligibilityStore  # checks the facade handled (athena keeps only the last)
    # called with (resource type, practice, id, action, the resource the write produced or
    # None) for every record a write touched (facade.engine.writes.answer); the event
    # engine listens (facade/events/runtime.py)
    write_listeners: list[Callable[[str, str, str, str, dict[str, Any] | None], None]] = field(
        default_factory=list
    )
    # the audit trail's write-behind recorder (facade/audit/recorder.py)
    audit: Recorder = field(default_factory=Disabled)
    # the credential vault (facade/vault/), None when no master key is configured
    vault: Vault | None = None
