"""The registered cases, one module per concern. Within a group of services, cases run in import order:
`memory` reads the stack's high-water marks after `lag` has loaded it."""

from bench.cases import ceiling, decode, ingest, lag, memory, peers, reconcile

__all__ = ["ceiling", "decode", "ingest", "lag", "memory", "peers", "reconcile"]
