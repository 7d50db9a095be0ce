FROM busybox
RUN <<EOT
#!/bin/sh
set -e
echo $HOME
EOT
