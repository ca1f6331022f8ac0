build-prof/lib/phone-memo.o: lib/phone-memo.c lib/jrn.h
lib/jrn.h:
