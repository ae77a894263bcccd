"""The models that ``bench/fields.py`` measures; installed only by that script."""
