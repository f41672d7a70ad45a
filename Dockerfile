# Production image: gunicorn web workers, a Celery worker and beat, all from this image
# (bin/sigportal web|worker|beat|init). PostgreSQL and Redis are external.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SIGPORTAL_DATA_DIR=/var/lib/sigportal SIGPORTAL_STATIC_ROOT=/app/staticfiles \
    BIND=0.0.0.0:8000
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
 && useradd --system --home /var/lib/sigportal --create-home sigportal
COPY . .
RUN SIGPORTAL_SECRET_KEY=build SIGPORTAL_KEY_PASSPHRASE=build SIGPORTAL_DATA_DIR=/tmp/build \
    python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf /tmp/build
USER sigportal
VOLUME /var/lib/sigportal
EXPOSE 8000
ENTRYPOINT ["/app/bin/sigportal"]
CMD ["web"]
