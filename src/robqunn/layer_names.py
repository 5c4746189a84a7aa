"""The names of the classifiers' layers that robqunn looks up (robqunn.models builds them).

Apart from robqunn.models so that a module that reads a model's layers, robqunn.exact, needs no TensorFlow to
be imported.
"""

FEATURES = "features"
LOGITS = "logits"
