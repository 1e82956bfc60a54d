"""Client audio in: decoding, resampling and log-mel features, whole or as a stream."""
