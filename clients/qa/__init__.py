"""The QA harness: benchmark, fuzzer, soak, transport floor, cutting proxy and the servers they load.

Not needed to serve: its libraries (hypothesis) come with the `qa` extra.
"""
