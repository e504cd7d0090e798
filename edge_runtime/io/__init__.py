"""Bytes in and out: frame sources (cameras, files, folders, streams, each opened in its own thread so a
stop is never stuck on a driver: ``sources``), image decoding by content with size limits (``imageio``), and
write-then-rename for every file the runtime produces (``atomic``)."""
