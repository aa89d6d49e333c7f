"""The leads REST API (public contract v1): viewsets per resource; `leadflow/urls.py`
routes them under /api/v1/."""
