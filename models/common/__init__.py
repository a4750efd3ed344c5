"""Layers and utilities shared by model families."""
