FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY adapters ./adapters
COPY config ./config
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["orchestrator", "serve"]
