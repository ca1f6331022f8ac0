build-prof/lib/email.o: lib/email.c lib/jrn.h
lib/jrn.h:
