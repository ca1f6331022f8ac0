/*
 * jrn-gen: a deterministic generator of customer events for tests, the demo
 * and the benchmarks. The same arguments always give the same bytes.
 *
 *   jrn-gen [-n EVENTS] [-c CUSTOMERS] [-s SEED] [-y YEAR]
 *
 * N customers' events over one year, in time order: one user.signup (with
 * e-mail and phone) when a customer first appears, then page.viewed,
 * cart.added, order.completed (with amounts; about half the customers buy),
 * email.opened and email.clicked. Most events carry an id and a UTC time;
 * a few have a +02:00 offset or an upper-case e-mail, as real feeds do.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static double unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static void fmt_time(int64_t ms, int offset_min, char *out)
{
	time_t secs = (time_t)((ms + offset_min * 60000LL) / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	int n = (int)strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (offset_min)
		sprintf(out + n, ".%03d+%02d:%02d", (int)(ms % 1000), offset_min / 60, offset_min % 60);
	else
		sprintf(out + n, ".%03dZ", (int)(ms % 1000));
}

static const char *const pages[] = {"/", "/pricing", "/products/shoes", "/products/bags",
				    "/blog/spring-sale", "/account", "/cart", "/help"};
static const char *const products[] = {"sku-100", "sku-101", "sku-205", "sku-310", "sku-311",
				       "sku-420", "sku-777", "sku-900"};
static const char *const campaigns[] = {"welcome", "spring-sale", "winback", "vip-preview"};

int main(int argc, char **argv)
{
	long long n = 1000, customers = 0;
	uint64_t seed = 42;
	int year = 2025, c;

	while ((c = getopt(argc, argv, "n:c:s:y:")) != -1) {
		switch (c) {
		case 'n': n = atoll(optarg); break;
		case 'c': customers = atoll(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'y': year = atoi(optarg); break;
		default:
			fputs("usage: jrn-gen [-n EVENTS] [-c CUSTOMERS] [-s SEED] [-y YEAR]\n", stderr);
			return 2;
		}
	}
	if (customers <= 0)
		customers = n / 10 > 0 ? n / 10 : 1;
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

	unsigned char *seen = calloc((size_t)customers, 1);
	if (!seen)
		return 1;
	struct tm start = {.tm_year = year - 1900, .tm_mon = 0, .tm_mday = 1};
	int64_t t0 = (int64_t)timegm(&start) * 1000, span = 365LL * 86400000;
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);

	for (long long i = 0; i < n; i++) {
		/* Skewed activity: a few customers are much busier. */
		double u = unit();
		long long cust = (long long)(u * u * (double)customers);
		if (cust >= customers)
			cust = customers - 1;
		int64_t ts = t0 + (int64_t)((double)span * ((double)i + unit()) / (double)n);
		int offset = rnd() % 20 == 0 ? 120 : 0;
		char when[48];
		fmt_time(ts, offset, when);
		bool buyer = (cust * 2654435761ULL) % 100 < 53;

		if (!seen[cust]) {
			seen[cust] = 1;
			printf("{\"id\":\"e%010lld\",\"type\":\"user.signup\",\"customerId\":\"c%07lld\","
			       "\"timestamp\":\"%s\",\"properties\":{\"email\":\"%s%lld@example.com\","
			       "\"phone\":\"(415) 555-%04lld\",\"plan\":\"%s\",\"source\":\"%s\"},"
			       "\"context\":{\"ip\":\"192.0.2.%lld\",\"locale\":\"en-US\"}}\n",
			       i, cust, when, rnd() % 10 == 0 ? "User" : "user", cust, cust % 10000,
			       rnd() % 3 ? "free" : "trial", rnd() % 2 ? "organic" : "ads", cust % 250);
			continue;
		}
		uint64_t r = rnd() % 100;
		if (r < 45) {
			printf("{\"id\":\"e%010lld\",\"type\":\"page.viewed\",\"customerId\":\"c%07lld\","
			       "\"timestamp\":\"%s\",\"properties\":{\"path\":\"%s\",\"referrer\":\"https://www.example.org/\","
			       "\"durationMs\":%" PRIu64 "},\"context\":{\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64)\"}}\n",
			       i, cust, when, pages[rnd() % 8], rnd() % 60000);
		} else if (r < 60) {
			printf("{\"id\":\"e%010lld\",\"type\":\"cart.added\",\"customerId\":\"c%07lld\","
			       "\"timestamp\":\"%s\",\"properties\":{\"productId\":\"%s\",\"quantity\":%" PRIu64 ","
			       "\"price\":%" PRIu64 ".%02" PRIu64 "},\"context\":{\"channel\":\"web\"}}\n",
			       i, cust, when, products[rnd() % 8], 1 + rnd() % 3, 5 + rnd() % 200, rnd() % 100);
		} else if (r < 72 && buyer) {
			printf("{\"id\":\"e%010lld\",\"type\":\"order.completed\",\"customerId\":\"c%07lld\","
			       "\"timestamp\":\"%s\",\"properties\":{\"orderId\":\"o%010lld\",\"amount\":%" PRIu64 ".%02" PRIu64 ","
			       "\"currency\":\"USD\",\"items\":%" PRIu64 "},\"context\":{\"channel\":\"web\"}}\n",
			       i, cust, when, i, 10 + rnd() % 400, rnd() % 100, 1 + rnd() % 5);
		} else if (r < 90) {
			printf("{\"id\":\"e%010lld\",\"type\":\"email.opened\",\"customerId\":\"c%07lld\","
			       "\"timestamp\":\"%s\",\"properties\":{\"campaignId\":\"%s\",\"messageId\":\"m%010lld\"},"
			       "\"context\":{\"provider\":\"smtp\"}}\n",
			       i, cust, when, campaigns[rnd() % 4], i);
		} else {
			printf("{\"id\":\"e%010lld\",\"type\":\"email.clicked\",\"customerId\":\"c%07lld\","
			       "\"timestamp\":\"%s\",\"properties\":{\"campaignId\":\"%s\",\"url\":\"https://shop.example.com%s\"},"
			       "\"context\":{\"provider\":\"smtp\"}}\n",
			       i, cust, when, campaigns[rnd() % 4], pages[rnd() % 8]);
		}
	}
	free(seen);
	return fflush(stdout) == 0 ? 0 : 1;
}
