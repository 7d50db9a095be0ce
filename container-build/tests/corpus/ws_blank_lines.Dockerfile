


FROM busybox



RUN echo x


