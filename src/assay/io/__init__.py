"""Streaming import and export of dataset items: CSV, JSON and JSONL."""
