build-prof/lib/sms.o: lib/sms.c lib/sms.h lib/jrn.h
lib/sms.h:
lib/jrn.h:
