"""Data package: the recorded athena contracts (facade/drift/contract.py)."""
