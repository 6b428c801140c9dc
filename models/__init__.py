"""pexsurv.models"""
