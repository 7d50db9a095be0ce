# first
#second
  # indented
FROM busybox # not a comment
# between
RUN echo x # trailing is kept
#
