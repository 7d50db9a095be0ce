#   syntax   =   docker/dockerfile:1.7-labs  
FROM busybox
