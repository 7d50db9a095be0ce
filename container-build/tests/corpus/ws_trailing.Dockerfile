FROM busybox   
RUN echo trailing   	
CMD ["a"]   
