build-prof/lib/opts.o: lib/opts.c lib/jrn.h
lib/jrn.h:
