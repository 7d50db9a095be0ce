FROM busybox
ARG VERSION=dev
ARG REVISION
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://example.invalid/berth"
