"""HTTP routers, thin: parse the request, run the insight's query module, return its model.

Every router listed in ROUTERS is mounted under /v1 behind the read token. PAGES are mounted at
the root without it: they serve page shells that hold no data and fetch /v1 with a token.
"""
from services.api.routers import (
    customers,
    dashboard,
    experience,
    feedback,
    funnels,
    paths,
    profile,
    retention,
    revenue,
)

ROUTERS = [
    funnels.router,
    customers.router,
    retention.router,
    paths.router,
    revenue.router,
    experience.router,
    profile.router,
    feedback.router,
]

PAGES = [dashboard.router]
