"""Outbound safety: may the server call this URL on a user's behalf, and how it connects.

:mod:`~assay.outbound.addresses` decides whether a URL's host is internal (after resolution);
:mod:`~assay.outbound.policy` says which internal addresses are allowed and where the guard is
in force; :mod:`~assay.outbound.transport` builds the one HTTP client every outbound call
(HTTP targets, prompt targets, judges) goes through, connecting only to checked addresses.
"""

from assay.outbound.addresses import check_url, check_url_async, is_internal, split_url
from assay.outbound.policy import Policy, active, enforced, server_policy
from assay.outbound.transport import async_client

__all__ = [
    "Policy",
    "active",
    "async_client",
    "check_url",
    "check_url_async",
    "enforced",
    "is_internal",
    "server_policy",
    "split_url",
]
