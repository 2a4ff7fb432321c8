"""Training and export of the learned lossy models (``mic train``, ``mic retarget``,
``mic export``).

Importing this package does not import torch; the functions do when called.
"""
