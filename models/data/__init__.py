"""Training data: synthetic speech, real recordings, noise, and the streams composed from them."""
