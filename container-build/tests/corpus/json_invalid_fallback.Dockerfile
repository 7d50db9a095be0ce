FROM busybox
CMD ["a", 'b']
CMD [a, b]
RUN ["unterminated"
ENTRYPOINT [ "x" ] trailing
