"""Falco-compatible rules engine: parse -> load (lists, macros, append/override, exceptions) ->
compile -> ruleset (indexed by evt.type) -> outputs.

The usual entry point is ``mamori.rules.engine.load_ruleset``.
"""
