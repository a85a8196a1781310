"""kerazoo.losses: the course's losses and regularizers as Keras objects, serializable and usable by name.

Each module holds one group of losses and lists them in its ``__all__``; ``get(name)`` resolves a name from a config.
"""

# One import line per module (each module's owner adds its own line).
