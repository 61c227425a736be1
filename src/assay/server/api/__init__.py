"""Versioned REST API routers."""
