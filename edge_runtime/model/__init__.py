"""The model file and what it means: reading a .tflite flatbuffer without TensorFlow (``tflite_meta``),
refusing a corrupt or too-new one before LiteRT sees it (``validate``, ``compat_check``), building the
interpreter once (``interpreter``), and the ``Classifier`` that a model file becomes (``classifier``). It also
holds the two definitions training and the device share: how a model sees an image (``spec``, ``preprocess``)
and the one rule from probabilities to a label (``decision``). Imports nothing else of the runtime."""
