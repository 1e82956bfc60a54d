# The rnnvoice server: CPU-only PyTorch, the shipped GRU and LSTM models baked in, run as a non-root user.
#   docker build -t rnnvoice .     torch and torchaudio from the PyTorch CPU index, the rest from PyPI
# Offline, from the wheels in wheels/ (how the tests build it, on a base image made with debootstrap):
#   docker build -t rnnvoice --build-arg PIP_SOURCE="--no-index --find-links /wheels" .
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/rnnvoice/bin:$PATH

# Debian bookworm's Python is 3.11, the version the project needs; pip installs into a virtual environment.
# espeak-ng and flite speak the phrases that streams choose at run time, to enrol them.
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv espeak-ng flite \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/rnnvoice \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin rnnvoice

# Where pip looks: PyPI and the PyTorch CPU index, whose torch 2.14.1+cpu ranks above PyPI's CUDA build of 2.14.1.
ARG PIP_SOURCE="--extra-index-url https://download.pytorch.org/whl/cpu"
COPY wheels /wheels

# The base dependencies of pyproject.toml first ([project].dependencies, torch among them; no extras, so neither
# the plots nor the QA harness): this layer is rebuilt only when they change.
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install $PIP_SOURCE -r /tmp/requirements.txt

# The package with its weights (package data); the build fails if a shipped model or artifact is missing or corrupt.
COPY README.md /src/
COPY protos /src/protos
COPY service /src/service
COPY models /src/models
COPY clients /src/clients
RUN pip install $PIP_SOURCE /src && rm -rf /src /wheels /tmp/requirements.txt && rnnvoice check-models

USER rnnvoice
WORKDIR /tmp

# gRPC on 50051, Prometheus metrics on 9100, on every interface of the container (the server's own default is
# loopback). TLS and tokens come from RNNVOICE_TLS_CERT/RNNVOICE_TLS_KEY and RNNVOICE_TOKENS_FILE; RNNVOICE_WORKERS
# runs that many server processes on the port (`serve --workers`; 1 by default).
ENV RNNVOICE_HOST=[::] RNNVOICE_PORT=50051 RNNVOICE_METRICS_HOST=[::] RNNVOICE_METRICS_PORT=9100
EXPOSE 50051 9100

# Asks the server's own gRPC health service (grpc.health.v1) whether the Voice service is SERVING; over TLS
# when RNNVOICE_TLS_CA names the CA to trust (the health service needs no token).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD rnnvoice health --server "localhost:${RNNVOICE_PORT}"

# SIGTERM lets open streams finish with their summaries (--grace, 10 s) before the server exits.
STOPSIGNAL SIGTERM
CMD ["rnnvoice", "serve"]
