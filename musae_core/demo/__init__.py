"""The embedded demo: a music corpus with known concepts, rendered here from symbolic music.

Every clip's factors (instrument family, key, mode, tempo, register, dynamics, drums) are
recorded, so discovery, labelling and steering can be scored against the truth.
"""
