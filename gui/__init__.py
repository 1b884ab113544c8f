"""Distillab's desktop app (PySide6). Thin: it reads the store and starts engine jobs."""
