build-prof/lib/privacy.o: lib/privacy.c lib/privacy.h lib/jrn.h
lib/privacy.h:
lib/jrn.h:
