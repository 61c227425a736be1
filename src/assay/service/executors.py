"""Where a prepared run executes: in this process (``local``) or as shards on Ray (``ray``)."""

from __future__ import annotations

import sys

from assay.engine import Prepared
from assay.errors import InvalidInput

EXECUTORS = ("local", "ray")


def check(executor: str, ray_address: str | None = None) -> None:
    """Refuse an unknown executor, or a Ray address without the Ray executor."""
    if executor not in EXECUTORS:
        raise InvalidInput(
            f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}", field="executor"
        )
    if ray_address is not None and executor != "ray":
        raise InvalidInput("a Ray address needs the ray executor", field="ray_address")
    if executor == "ray" and ray_address is not None and "ray" in sys.modules:
        from assay.scaleout.driver import check_address  # Ray is loaded: this costs nothing

        check_address(ray_address)  # before anything is stored


def place(prepared: Prepared, executor: str, ray_address: str | None = None) -> Prepared:
    """``prepared``, to run where ``executor`` says (``ray``: the cluster at ``ray_address``,
    else ``RAY_ADDRESS``, else a Ray started on this machine)."""
    check(executor, ray_address)
    if executor == "local":
        return prepared
    if "sequential" in prepared.experiment.metadata:
        prepared.runner.discard()
        raise InvalidInput(
            "sequential stopping runs with the local executor only", field="sequential"
        )
    try:
        from assay.scaleout.driver import on_ray
    except ImportError as exc:
        prepared.runner.discard()
        raise InvalidInput(
            f"the ray executor needs Ray: pip install 'assay[ray]' ({exc})", field="executor"
        ) from None
    return on_ray(prepared, address=ray_address)
