build-prof/cmd/jrn-ai/eval.o: cmd/jrn-ai/eval.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h cmd/jrn-ai/eval.h cmd/jrn-ai/../jrn-score/clv-math.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
cmd/jrn-ai/eval.h:
cmd/jrn-ai/../jrn-score/clv-math.h:
