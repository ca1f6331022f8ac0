build-prof/lib/state.o: lib/state.c lib/jrn.h
lib/jrn.h:
