/* Unit tests of jrn-ingest --publish/--from's pure parts: the URL list and
 * the --partitions list (nats.h). */
#include <string.h>

#include "nats.h"
#include "unit.h"

static jrn_err e;

/* The owned partitions of list among n as "0,3,5", or the error. */
static const char *owned_of(const char *list, int n)
{
	static char out[1100];
	unsigned char owned[64];
	if (ingest_nats_partitions(list, n, owned, &e) < 0) {
		snprintf(out, sizeof out, "error: %s", e.msg);
		return out;
	}
	out[0] = 0;
	for (int p = 0; p < n; p++)
		if (owned[p])
			snprintf(out + strlen(out), sizeof out - strlen(out), "%s%d", *out ? "," : "", p);
	return out;
}

int main(void)
{
	CHECK(ingest_nats_url_check("nats://127.0.0.1:4222", &e) == 0, "one URL");
	CHECK(ingest_nats_url_check("nats://a:1,nats://b-2.example:65535,nats://c", &e) == 0,
	      "a cluster, a port optional");
	CHECK(ingest_nats_url_check("", &e) < 0, "empty");
	CHECK(ingest_nats_url_check("http://a:1", &e) < 0 && strstr(e.msg, "'http://a:1'"),
	      "another scheme, named");
	CHECK(ingest_nats_url_check("nats://a:1,", &e) < 0, "a trailing comma");
	CHECK(ingest_nats_url_check("nats://:4222", &e) < 0 && strstr(e.msg, "no host"), "no host");
	CHECK(ingest_nats_url_check("nats://a:0", &e) < 0, "port 0");
	CHECK(ingest_nats_url_check("nats://a:65536", &e) < 0, "port 65536");
	CHECK(ingest_nats_url_check("nats://a:", &e) < 0, "an empty port");
	CHECK(ingest_nats_url_check("nats://a/b", &e) < 0, "a path");
	CHECK(ingest_nats_url_check("nats://u:p@a:1", &e) < 0, "credentials are not taken");
	char many[400] = "";
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",nats://a:1" : "nats://a:1");
	CHECK(ingest_nats_url_check(many, &e) < 0 && strstr(e.msg, "16"), "17 URLs: the limit named");

	CHECK_STR(owned_of("0,3,5", 8), "0,3,5", "a list");
	CHECK_STR(owned_of("0-3", 8), "0,1,2,3", "a range");
	CHECK_STR(owned_of("3/8", 8), "3", "P/N");
	CHECK_STR(owned_of("0-2,5,7/8", 8), "0,1,2,5,7", "mixed");
	CHECK_STR(owned_of("5,5", 8), "error: '5,5': partition 5 given twice", "twice is refused (a typo of 5,6?)");
	CHECK_STR(owned_of("8", 8), "error: 8: not below the 8 partitions (nats.partitions)",
		  "a partition >= N");
	CHECK_STR(owned_of("0-8", 8), "error: 8: not below the 8 partitions (nats.partitions)",
		  "a range past N");
	CHECK_STR(owned_of("1/4", 8), "error: 1/4: 4 is not the 8 partitions of the stream (nats.partitions)",
		  "P/N with another N");
	CHECK_STR(owned_of("4/4", 4), "error: 4/4: 4 is not below 4", "P >= N");
	CHECK_STR(owned_of("3-1", 8), "error: '3-1' is not a range LOW-HIGH", "a range backwards");
	CHECK_STR(owned_of("0,0", 8), "error: '0,0': partition 0 given twice", "a partition twice");
	CHECK_STR(owned_of("0-3,2", 8), "error: '0-3,2': partition 2 given twice", "a partition in a range and again");
	CHECK(ingest_nats_partitions("", 8, NULL, &e) < 0, "empty");
	CHECK(ingest_nats_partitions("1,,2", 0, NULL, &e) < 0, "an empty item");
	CHECK(ingest_nats_partitions("1,", 0, NULL, &e) < 0, "a trailing comma");
	CHECK(ingest_nats_partitions("-1", 0, NULL, &e) < 0, "a sign");
	CHECK(ingest_nats_partitions("a", 0, NULL, &e) < 0, "not a number");
	CHECK(ingest_nats_partitions("4096", 0, NULL, &e) < 0, "past the 4096 limit");
	CHECK(ingest_nats_partitions("4095", 0, NULL, &e) == 0, "syntax only: any number below 4096");
	CHECK(ingest_nats_partitions("1/0", 0, NULL, &e) < 0, "N = 0");
	CHECK(ingest_nats_partitions("1/2/3", 0, NULL, &e) < 0, "two slashes");
	return unit_done();
}
