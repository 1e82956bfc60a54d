"""The models: audio, nets, streaming, decoding and nlu serve; data, training and evaluation stay offline."""
