"""Measuring models on held-out speakers, GRU beside LSTM, and the plots of it."""
