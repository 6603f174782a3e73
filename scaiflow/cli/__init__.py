"""The `scaiflow` command: compile flows locally, and push, deploy, pull and diff them over
ScaiFlow's REST API (docs/ci.md). It imports no Django and nothing of the server but the pure
compiler (`flows.compiler`) and the graph diff (`flows.graphdiff`); `main.main` is the entry
point."""
