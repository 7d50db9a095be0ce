FROM busybox
WORKDIR /path with spaces
USER  name with  spaces 
