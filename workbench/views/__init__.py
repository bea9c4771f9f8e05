"""Views: reports, widgets, figures and experiment tracking."""
