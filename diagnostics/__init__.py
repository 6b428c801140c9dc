"""pexsurv.diagnostics"""
