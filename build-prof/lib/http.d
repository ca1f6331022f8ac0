build-prof/lib/http.o: lib/http.c lib/http.h lib/jrn.h
lib/http.h:
lib/jrn.h:
