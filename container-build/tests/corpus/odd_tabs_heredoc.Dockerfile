FROM busybox
RUN <<-EOF
			echo deep
			EOF
