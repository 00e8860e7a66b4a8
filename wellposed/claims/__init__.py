"""The claims: one module per topic, each claim a function registered by its ledger id."""

from wellposed.claims.registry import Context, Outcome, claim, registered

__all__ = ["Context", "Outcome", "claim", "registered"]
