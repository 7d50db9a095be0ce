FROM busybox
RUN --mount=type=secret,id="a b" echo
COPY --chown="a" 'b' c
