"""Hearing-loss detection from facial expressions (paper: hearing-loss-detection.txt)."""
