build-prof/lib/out.o: lib/out.c lib/jrn.h
lib/jrn.h:
