build-prof/lib/buf.o: lib/buf.c lib/jrn.h
lib/jrn.h:
