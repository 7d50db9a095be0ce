FROM busybox
RUN <<EOF
EOF 
EOF
