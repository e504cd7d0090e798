"""Where results go, each a ``Sink`` fed one record per frame: JSON Lines (``jsonl``), the annotated video
(``video``, ``draw``), snapshots on a label change (``snapshots``), MQTT (``mqtt``), the live web view
(``web``, ``webpage``, ``framehub``, ``live``), and systemd's notify protocol (``sdnotify``). ``services``
builds the device-service outputs a run asked for. Never imports the frame loop."""
