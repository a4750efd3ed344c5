# syntax=docker/dockerfile:1
# The platform image: pipeline components and the KServe runtime run in it, tagged with the
# package version (`make image-tag`). Build from the repository root:
#   docker build -f docker/platform.Dockerfile -t affectops-platform:$(make -s image-tag) .
# The base is pinned by digest; bump tag and digest together.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# torch first, from the CPU index, so the stack resolves against it instead of pulling CUDA wheels.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY affectops/ affectops/
COPY core/ core/
COPY models/ models/
COPY components/ components/
COPY pipelines/ pipelines/
COPY serving/ serving/
COPY monitoring/ monitoring/
# Exactly the versions tested together (constraints.txt); a non-editable install of the package.
RUN pip install --no-cache-dir -c constraints.txt . \
    && pip check

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 affectops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin affectops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    AFFECTOPS_HOME=/tmp/affectops
WORKDIR /tmp
USER 10001:10001
CMD ["affectops", "--help"]
