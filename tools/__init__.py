"""Developer tools (not shipped in the wheel): run from the repository root, e.g.
`python -m tools.stage_deps`."""
