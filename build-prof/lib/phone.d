build-prof/lib/phone.o: lib/phone.cc lib/jrn.h
lib/jrn.h:
