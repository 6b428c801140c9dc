"""pexsurv.fitting"""
