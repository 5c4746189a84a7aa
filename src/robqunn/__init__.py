"""robqunn: adversarial robustness of quanvolutional neural networks, reproducibly.

Importing the package is cheap: TensorFlow and PennyLane are imported only by the modules that
need them (quanv, models, train), never here.
"""

__version__ = "0.1.0"
