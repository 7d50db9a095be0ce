FROM busybox
RUN echo no newline