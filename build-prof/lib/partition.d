build-prof/lib/partition.o: lib/partition.c lib/jrn.h
lib/jrn.h:
