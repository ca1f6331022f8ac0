build-prof/lib/yaml.o: lib/yaml.c lib/yaml.h lib/jrn.h
lib/yaml.h:
lib/jrn.h:
