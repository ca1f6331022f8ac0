build-prof/lib/mime.o: lib/mime.c lib/mime.h lib/jrn.h
lib/mime.h:
lib/jrn.h:
