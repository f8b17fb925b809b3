"""Resource workflows: the operations and write hooks a table names, one module per workflow.

Importing this package registers every workflow with the engine
(:mod:`facade.engine.registry`); an entry point imports it once and calls
``registry.check``. A new workflow is a module here, added to the import below.
"""

from facade.workflows import claims, coverage, documents, eligibility, patients, scheduling

__all__ = ["claims", "coverage", "documents", "eligibility", "patients", "scheduling"]
