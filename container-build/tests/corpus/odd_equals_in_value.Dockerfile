FROM busybox
ENV A=b=c
LABEL x==y
ARG z=a=b
