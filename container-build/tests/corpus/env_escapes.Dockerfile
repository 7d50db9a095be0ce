FROM busybox
ENV A=a\ b B="c\"d" C='e\f'
ENV D="$A $B"
ENV E=\$notvar
