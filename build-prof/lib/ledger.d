build-prof/lib/ledger.o: lib/ledger.c lib/ledger.h lib/jrn.h \
 lib/privacy.h
lib/ledger.h:
lib/jrn.h:
lib/privacy.h:
