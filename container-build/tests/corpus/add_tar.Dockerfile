FROM busybox
ADD rootfs.tar.gz /
ADD http://example.com/big.tar.xz /usr/src/things/
