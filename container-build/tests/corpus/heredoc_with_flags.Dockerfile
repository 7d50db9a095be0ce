FROM busybox
RUN --mount=type=cache,target=/c --network=none <<EOF
ls /c
EOF
