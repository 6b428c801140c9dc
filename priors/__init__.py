"""pexsurv.priors"""
