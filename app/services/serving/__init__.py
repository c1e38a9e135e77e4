"""Serving: the process's long-lived runtime and the answers it gives from memory."""
