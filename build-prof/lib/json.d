build-prof/lib/json.o: lib/json.c lib/jrn.h
lib/jrn.h:
