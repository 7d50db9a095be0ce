FROM busybox
RUN echo crlf
ENV A=b
