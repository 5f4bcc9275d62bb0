"""Plumbing every stage shares: atomic writes, artifact names, worker pools, the stage entry point, DVC's command line."""
