"""The registered cases, one module per concern. Within a group of services, cases run in import order:
`memory` reads the stack's high-water marks after `lag` has loaded it."""

from bench.cases import ceiling, contributed, decode, ingest, lag, memory, peers

__all__ = ["ceiling", "contributed", "decode", "ingest", "lag", "memory", "peers"]
