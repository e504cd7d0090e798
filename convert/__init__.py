"""happysad-edge converter: Keras run folders to self-describing TFLite models."""
