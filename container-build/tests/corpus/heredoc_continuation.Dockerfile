FROM busybox
RUN <<EOF \
  cat
hi
EOF
