build-prof/lib/multidb.o: lib/multidb.c lib/jrn.h
lib/jrn.h:
