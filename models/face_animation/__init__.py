"""Emotion-aware audio-driven face animation (paper: audio-driven-face-animation.txt)."""
