build-prof/lib/mustache.o: lib/mustache.c lib/jrn.h lib/mustache.h
lib/jrn.h:
lib/mustache.h:
