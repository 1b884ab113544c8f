"""Distillab engine: the Qt-free core (store, recipes, runner, models, paradigms)."""
