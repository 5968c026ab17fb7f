"""The link checker: are the entries' website and evaluation links still alive?"""
