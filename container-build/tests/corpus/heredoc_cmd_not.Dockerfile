FROM busybox
CMD <<EOF
EOF
