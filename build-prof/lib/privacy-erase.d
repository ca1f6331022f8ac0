build-prof/lib/privacy-erase.o: lib/privacy-erase.c lib/privacy.h \
 lib/jrn.h
lib/privacy.h:
lib/jrn.h:
