"""The ground layer: settings, storage, the one MLflow registry client. Imports no other project package."""
