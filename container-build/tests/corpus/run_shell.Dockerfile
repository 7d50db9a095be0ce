FROM busybox
RUN echo hello world
RUN set -eux; \
    mkdir -p /a; \
    touch /a/b
