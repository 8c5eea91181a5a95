"""The operator console: server-rendered pages (Jinja2) in the same FastAPI service.

It calls the same services and read models as /api/v1 (passed in by bootstrap) and never a vendor.
"""
