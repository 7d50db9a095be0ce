FROM busybox
RUN echo '<<EOF'
RUN echo a<<b
RUN cat <<
