FROM busybox
RUN <<E"O"F
body
EOF
