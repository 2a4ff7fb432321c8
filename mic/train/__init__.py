"""Everything torch: the training models (:mod:`.wcm`, :mod:`.layers`), training, and export
of the learned lossy models to the runtime's integer networks (``mic train``, ``mic retarget``,
``mic export``).  The runtime (:mod:`mic.models`, :mod:`mic.lossy`, ...) never imports this
package (``tests/test_layers_import.py``).

Importing this package does not import torch; its modules do.
"""
