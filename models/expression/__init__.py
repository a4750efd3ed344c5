"""Multimodal facial expression recognition in the wild (paper: multimodal-expression-recognition.txt)."""
