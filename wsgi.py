"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from featurestore import create_app

app = create_app()
