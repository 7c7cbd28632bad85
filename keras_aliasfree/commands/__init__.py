"""Verbs of the ``keras-aliasfree`` command; one module each (see ``keras_aliasfree.cli``)."""
