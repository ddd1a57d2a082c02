"""``shoprec console``: the review pages of model promotion (server-rendered, FastAPI).

``auth`` (who signs in, hashed credentials, roles), ``csrf`` (form tokens bound to the signed-in
user, signed flash messages), ``views`` (what a page shows, computed from the registry as plain
data), ``charts`` (inline SVG), ``pages`` (the Jinja2 templates), ``actions`` (the decisions,
through the same functions as ``shoprec registry``), ``app`` (the routes). See docs/console.md.
"""
