   FROM busybox
		RUN echo indented
  	 CMD ["x"]
