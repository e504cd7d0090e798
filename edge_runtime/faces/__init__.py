"""Finding faces and cutting them the way the classifier was trained: the ``Detector`` protocol and ``Face``
(``face``), BlazeFace on LiteRT with its anchors and weighted NMS (``blazeface``, ``anchors``, ``nms``), the
detectors made of two BlazeFace searches (``pair``, ``wide``, the latter's second look at faces it is
unsure of: ``confirm``), OpenCV's Haar cascade as the fallback
(``haar``), the choice of detector and its files (``detect``), and the measured crop with eye alignment
(``align``). Detectors state what they can do (``DetectorTraits``) so the frame loop never asks which
concrete detector it holds."""
