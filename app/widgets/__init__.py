"""The widgets of the window: they show what they are given and emit what the user asks for."""
