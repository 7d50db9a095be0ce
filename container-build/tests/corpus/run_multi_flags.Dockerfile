FROM busybox
RUN --mount=type=cache,target=/a --mount=type=tmpfs,target=/b --network=none echo a
