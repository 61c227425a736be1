"""Scale-out: one experiment's planned results run in shards on a Ray cluster.

The only package that imports Ray (an optional extra, ``pip install 'assay[ray]'``); nothing
in the core imports it. :class:`~assay.scaleout.driver.RayRunner` is a drop-in for the
engine's ``Runner``: the CLI, ``evaluate(executor="ray")`` and the server's worker hand it a
prepared run. Each shard runs the engine's own runner on a Ray worker; one
:class:`~assay.scaleout.coordinator.Coordinator` actor holds what must be global across the
cluster: rate limits, the cost budget, the stop signal, progress and (on SQLite) the results
on their way to the driver's single writer.
"""
