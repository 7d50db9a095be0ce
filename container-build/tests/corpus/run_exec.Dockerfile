FROM busybox
RUN ["/bin/sh", "-c", "echo hi"]
RUN [ "echo" , "a b" ]
