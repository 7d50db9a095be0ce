FROM busybox
RUN <<EOF
EOF
