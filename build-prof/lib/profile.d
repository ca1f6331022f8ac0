build-prof/lib/profile.o: lib/profile.c lib/profile.h lib/jrn.h \
 lib/privacy.h
lib/profile.h:
lib/jrn.h:
lib/privacy.h:
