"""Pretrained weights for zoo models (in progress): see ``tags.py`` for the data model."""
