"""One module per insight: its request model, response model, SQL and runner (see base.py)."""
