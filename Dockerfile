# One image for every webrecall service (api, worker, annotator, flower, migrate, commoncrawl-mirror):
# the command differs, the code and its dependencies do not.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY webrecall webrecall
# wheels for everything (fastText and friends may need a compiler when no wheel fits the platform)
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEBRECALL_DATA_DIR=/data
RUN groupadd --system --gid 10001 webrecall \
    && useradd --system --uid 10001 --gid webrecall --home-dir /app --shell /usr/sbin/nologin webrecall
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels webrecall && rm -rf /wheels
WORKDIR /app
RUN mkdir -p /data && chown webrecall:webrecall /data
USER webrecall
VOLUME ["/data"]
EXPOSE 8000 8501 5555 8765
CMD ["webrecall", "api", "--host", "0.0.0.0", "--port", "8000"]
