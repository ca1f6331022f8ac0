build-prof/lib/writers.o: lib/writers.c lib/jrn.h
lib/jrn.h:
