build-prof/lib/hash.o: lib/hash.c lib/jrn.h
lib/jrn.h:
