build-prof/lib/utf8.o: lib/utf8.c lib/jrn.h
lib/jrn.h:
