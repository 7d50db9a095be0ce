FROM busybox
ADD <<EOF /a
added
EOF
