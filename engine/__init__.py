"""Distillab engine: the Qt-free core (store, recipes, runner, models, paradigms)."""

from engine.quiet import quiet_imports

quiet_imports()  # before any import can load bitsandbytes or tqdm (see engine/quiet.py)
