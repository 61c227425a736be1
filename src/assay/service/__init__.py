"""Use cases shared by every surface: the REST API, the dashboard, the CLI and ``evaluate()``.

Each surface parses its input, calls one of these functions and renders the answer. The
modules are imported one by one (``from assay.service.compare import gate``): this package
loads nothing by itself, so the CLI's start-up stays light.
"""
