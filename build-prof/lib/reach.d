build-prof/lib/reach.o: lib/reach.c lib/reach.h lib/jrn.h lib/privacy.h
lib/reach.h:
lib/jrn.h:
lib/privacy.h:
