ARG V=1
FROM busybox
ARG V
ENV A=${V:-x} B=${V:+y} C=${V-z} D=${V+w}
ENV E=${V#p} F=${V##p} G=${V%s} H=${V%%s}
ENV I=${V/a/b} J=${V//a/b}
RUN echo ${V:?required}
WORKDIR /$V
LABEL v=$V
