# syntax=docker/dockerfile:1
FROM busybox
RUN <<EOF
echo hello
echo world
EOF
