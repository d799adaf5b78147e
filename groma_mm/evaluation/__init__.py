"""Metrics for proposals, REC, LVIS-Ground and region captions."""
