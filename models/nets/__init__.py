"""The recurrent networks: one GRU or LSTM design, a keyword spotter and a speech recogniser on top."""
