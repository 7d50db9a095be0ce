FROM busybox
COPY --chown="1 2" a b
COPY --chown='a b' c d
