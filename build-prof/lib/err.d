build-prof/lib/err.o: lib/err.c lib/jrn.h
lib/jrn.h:
