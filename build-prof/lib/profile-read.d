build-prof/lib/profile-read.o: lib/profile-read.c lib/profile-read.h \
 lib/jrn.h
lib/profile-read.h:
lib/jrn.h:
