/* Unit tests of partition.c: jrn_murmur2 and jrn_partition_of against the
 * issue's vectors, Kafka's own (UtilsTest.testMurmur2), every tail length
 * of murmur2 (keys of 1 to 8 bytes), bytes >= 0x80, the empty key, and
 * librdkafka's rd_kafka_msg_partitioner_murmur2 (the partitioner kcat -X
 * partitioner=murmur2_random uses for keyed messages) over 100,000
 * generated keys and several partition counts. Links -lrdkafka (no broker
 * is needed: the partitioner is a pure function). */
#include <librdkafka/rdkafka.h>

#include "jrn.h"
#include "unit.h"

static int32_t kafka(const void *key, size_t n, int32_t cnt)
{
	return rd_kafka_msg_partitioner_murmur2(NULL, key, n, cnt, NULL, NULL);
}

/* A pseudo-random generator (xorshift64*), so the keys are the same each run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

int main(void)
{
	/* the vectors, N = 8 */
	CHECK(jrn_partition_of("c1", 2, 8) == 3, "c1 -> 3");
	CHECK(jrn_partition_of("customer-42", 11, 8) == 1, "customer-42 -> 1");
	CHECK(jrn_partition_of("ann@example.com", 15, 8) == 4, "ann@example.com -> 4");
	CHECK(jrn_partition_of("c1", 2, 0) == -1 && jrn_partition_of("c1", 2, -3) == -1,
	      "n <= 0 is -1");
	CHECK(jrn_partition_of("c1", 2, 1) == 0, "n = 1: always 0");

	/* Kafka's UtilsTest.testMurmur2 (Java ints) */
	static const struct { const char *k; int32_t h; } java[] = {
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	};
	for (size_t i = 0; i < sizeof java / sizeof *java; i++)
		CHECK((int32_t)jrn_murmur2(java[i].k, strlen(java[i].k), JRN_MURMUR2_SEED) == java[i].h,
		      "Kafka's murmur2 of \"%s\"", java[i].k);

	/* the empty key: the seed mixed with length 0 */
	CHECK(jrn_partition_of("", 0, 8) == kafka("", 0, 8), "empty key agrees with librdkafka");
	CHECK(jrn_murmur2("", 0, JRN_MURMUR2_SEED) == jrn_murmur2(NULL, 0, JRN_MURMUR2_SEED),
	      "empty key: NULL and \"\" alike");

	/* every tail: lengths 1 to 8 (0-3 bytes after the 4-byte blocks) */
	const char *s = "abcdefgh";
	for (size_t n = 1; n <= 8; n++)
		CHECK(jrn_partition_of(s, n, 1000) == kafka(s, n, 1000), "length %zu agrees", n);
	/* bytes >= 0x80 (the tail reads them unsigned), UTF-8 and not */
	static const char *const high[] = {"\xff", "\x80\x81", "\xc3\xa9", "caf\xc3\xa9", "\xe2\x82\xac\xe2\x82\xac",
					   "\xf0\x9f\x98\x80x", "\xff\xfe\xfd\xfc\xfb\xfa\xf9"};
	for (size_t i = 0; i < sizeof high / sizeof *high; i++)
		CHECK(jrn_partition_of(high[i], strlen(high[i]), 997) == kafka(high[i], strlen(high[i]), 997),
		      "high bytes, length %zu, agree", strlen(high[i]));

	/* 100,000 generated keys of 0 to 40 random bytes, several N (the
	 * keys of length 0, about 2,400, all fall in one partition) */
	static const int32_t ns[] = {1, 2, 3, 8, 16, 100, 1024, 65536};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	long bad = 0, counted[8] = {0};
	for (int k = 0; k < 100000; k++) {
		unsigned char key[40];
		size_t n = rnd(&seed) % 41;
		for (size_t i = 0; i < n; i++)
			key[i] = (unsigned char)rnd(&seed);
		for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
			int p = jrn_partition_of((const char *)key, n, ns[j]);
			if (p != kafka(key, n, ns[j]))
				bad++;
			if (ns[j] == 8)
				counted[p]++;
		}
	}
	CHECK(bad == 0, "100,000 random keys x 8 partition counts agree with librdkafka (%ld differ)", bad);
	bool spread = true;
	for (int p = 0; p < 8; p++)
		spread = spread && counted[p] > 11000 && counted[p] < 15000;
	CHECK(spread, "N = 8: each partition holds about an eighth of the keys");
	return unit_done();
}
