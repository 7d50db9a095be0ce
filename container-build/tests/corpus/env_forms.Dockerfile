FROM busybox
ENV A=1
ENV B 2
ENV C="three four" D=five\ six E='seven'
ENV PATH=/opt/bin:$PATH
ENV MY_NAME="John Doe" MY_DOG=Rex\ The\ Dog \
    MY_CAT=fluffy
ENV OLD value with spaces
