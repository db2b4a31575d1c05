"""Pure functions on numpy arrays, shared by every job (no state, no files):

- :mod:`.prepare`: grey and 8-bit conversion, alpha, analysis size, blur, tone matching;
- :mod:`.measure`: absolute difference, SSIM, MSE/PSNR, perceptual hashes;
- :mod:`.regions`: noise-floor thresholds, morphology, boxes and their merging, ignore masks, the box rule;
- :mod:`.align`, :mod:`.agreement`: registering one picture onto another, and how much of it agrees;
- :mod:`.transform`: what B is relative to A (rotation, scale, crop, light), in words.
"""
