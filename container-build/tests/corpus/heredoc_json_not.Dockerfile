FROM busybox
RUN ["sh", "-c", "cat <<EOF"]
EOF
