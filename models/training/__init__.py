"""Training GRU and LSTM models for either task."""
