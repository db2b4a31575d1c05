# TEMPORARY stand-in (not committed): the pdq helper writes the real one.
import cv2
import numpy as np


def _h(g):
    s = cv2.resize(g, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    d = cv2.dct(s)[:16, :16]
    return np.packbits((d > np.median(d)).ravel())
def pdq_dihedral(image):
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    forms = [g, np.rot90(g, 1), np.rot90(g, 2), np.rot90(g, 3), g[:, ::-1], g[::-1], g.T, np.rot90(g, 2).T]
    return np.stack([_h(np.ascontiguousarray(f)) for f in forms]), 100
