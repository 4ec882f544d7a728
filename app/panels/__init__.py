"""The behaviour behind a group of widgets (saving, history, style controls, the compare switch): each takes
the session and the widgets it needs, never the window."""
