FROM	busybox
RUN		echo	tabs
ENV	A	B
EXPOSE	80	443
