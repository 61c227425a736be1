"""The top-level names of ``assay`` stay what they claim to be."""

from __future__ import annotations

import importlib
import pkgutil

import assay


def test_public_names_survive_importing_every_module() -> None:
    # A submodule named like a public function would replace it on the package once imported.
    for module in pkgutil.walk_packages(assay.__path__, "assay."):
        if module.name.startswith(("assay.store.migrations", "assay.__main__")):
            continue
        importlib.import_module(module.name)
    for name in assay.__all__:
        value = getattr(assay, name)
        assert not isinstance(value, type(assay)), f"assay.{name} is shadowed by a module"
    assert callable(assay.evaluate)
    assert callable(assay.evaluate_async)
    assert callable(assay.rescore)
