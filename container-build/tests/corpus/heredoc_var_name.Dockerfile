FROM busybox
RUN <<$X
body
$X
