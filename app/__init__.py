"""Fude's desktop window: Qt widgets only. The style-transfer engine runs in a worker thread (app.worker) and
reaches the widgets only through Qt signals."""
