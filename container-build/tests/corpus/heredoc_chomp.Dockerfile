FROM busybox
RUN <<-EOF
	echo tabbed
		echo more
	EOF
