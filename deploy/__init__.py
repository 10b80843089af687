"""Deployment code that runs without the training engine."""
