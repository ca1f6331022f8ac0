build-prof/lib/time.o: lib/time.c lib/jrn.h
lib/jrn.h:
