"""The daemon: watching folders, systemd notification, status."""
