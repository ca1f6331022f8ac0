build-prof/lib/ndjson.o: lib/ndjson.c lib/jrn.h
lib/jrn.h:
