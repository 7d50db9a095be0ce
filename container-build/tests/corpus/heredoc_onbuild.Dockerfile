FROM busybox
ONBUILD RUN <<EOF
echo onbuild
EOF
