"""One loader for the ``assay.plugins`` entry points, feeding the scorer and target registries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assay import plugins
from assay.scoring import available, create, registry
from assay.targets import create_target, target_kinds
from assay.targets import registry as target_registry


@pytest.fixture
def clean_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test loads or registers is undone after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_builtins_registered", registry._builtins_registered)
    monkeypatch.setattr(registry, "_plugins_generation", registry._plugins_generation)
    monkeypatch.setattr(target_registry, "_REGISTRY", dict(target_registry._REGISTRY))
    monkeypatch.setattr(
        target_registry, "_builtins_registered", target_registry._builtins_registered
    )
    monkeypatch.setattr(plugins, "_loaded", None)


def _install(root: Path) -> None:
    info = root / "assay_both_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: assay_both_plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[assay.plugins]\nboth = assay_both_mod\nlouder = assay_both_mod:make_louder\n"
    )
    (root / "assay_both_mod.py").write_text(
        textwrap.dedent(
            """
            from assay.scoring import scorer
            from assay.targets import FunctionTarget, register_target

            IMPORTS = globals().get("IMPORTS", 0) + 1

            @scorer(register=True)
            def mentions_echo(output):
                return "echo" in str(output)

            def _echo(options, context):
                return FunctionTarget(lambda item: item, name="echo")

            register_target("echo", _echo)

            class Louder:
                name = "louder"

                def score(self, sample):
                    return {"value": str(sample.output).isupper()}

            def make_louder():
                return Louder()
            """
        )
    )


def test_each_entry_point_loads_once_for_both_registries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registries: None
) -> None:
    _install(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "assay_both_mod", raising=False)
    assert "echo" in target_kinds()  # the first lookup loads the plugins
    assert {"mentions_echo", "louder", "exact_match", "llm_judge"} <= set(available())
    assert sys.modules["assay_both_mod"].IMPORTS == 1
    assert plugins.load() is plugins.load()  # later lookups reuse the first load
    assert create("louder").name == "louder"  # a callable entry point is a scorer factory
    assert "louder" not in target_kinds()
    assert create_target({"type": "echo"}).kind == "function"
    assert {"function", "http", "prompt"} <= set(target_kinds())


def test_a_name_registered_in_code_is_kept_over_a_builtin(
    monkeypatch: pytest.MonkeyPatch, clean_registries: None
) -> None:
    monkeypatch.setattr(registry, "_builtins_registered", False)
    mine = registry.register("exact_match", lambda: create("contains", value="x"))
    assert registry.factory("exact_match") is mine


def test_importing_registers_nothing() -> None:
    code = """
import assay.engine, assay.scorers, assay.scoring, assay.targets
from assay import plugins
from assay.scoring import registry
from assay.targets import registry as target_registry
assert plugins._loaded is None, "entry points loaded on import"
assert registry._REGISTRY == {}, sorted(registry._REGISTRY)
assert target_registry._REGISTRY == {}, sorted(target_registry._REGISTRY)
assert "llm_judge" in registry.available()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
