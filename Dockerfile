# The rnnvoice server: CPU-only PyTorch, the shipped GRU and LSTM models baked in, run as a non-root user.
# Build from the repository root once models/weights/ holds keywords_gru.pt and keywords_lstm.pt:
#   docker build -t rnnvoice .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The CPU builds of torch and torchaudio, pinned as in pyproject.toml: a fraction of the CUDA build's size.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchaudio==2.11.0

# The package with its weights (package data); the build fails if either model is missing.
COPY pyproject.toml /src/
COPY protos /src/protos
COPY service /src/service
COPY models /src/models
COPY clients /src/clients
RUN pip install /src \
    && python -c "from rnnvoice.models.weights import shipped_models as m; assert len(m()) == 2, 'models/weights/ lacks a model'" \
    && rm -rf /src

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin rnnvoice
USER rnnvoice
WORKDIR /tmp

# gRPC on 50051, Prometheus metrics on 9100, on every interface of the container (the server's own default is
# loopback). TLS and tokens come from RNNVOICE_TLS_CERT/RNNVOICE_TLS_KEY and RNNVOICE_TOKENS_FILE.
ENV RNNVOICE_HOST=[::] RNNVOICE_PORT=50051 RNNVOICE_METRICS_HOST=[::] RNNVOICE_METRICS_PORT=9100
EXPOSE 50051 9100

# Asks the server's own gRPC health service (grpc.health.v1) whether the Voice service is SERVING; over TLS
# when RNNVOICE_TLS_CA names the CA to trust (the health service needs no token).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD rnnvoice health --server "localhost:${RNNVOICE_PORT}"

# SIGTERM lets open streams finish with their summaries (--grace, 10 s) before the server exits.
STOPSIGNAL SIGTERM
CMD ["rnnvoice", "serve"]
