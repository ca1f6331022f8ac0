build-prof/lib/track.o: lib/track.c lib/track.h lib/jrn.h
lib/track.h:
lib/jrn.h:
