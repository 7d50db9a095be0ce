FROM busybox
RUN <<EOF
hi
EOF
