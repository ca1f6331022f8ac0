/* Unit tests of jrn-ai's openai.c without a server: the model's
 * configuration, the request body (OpenAI's Create chat completion with
 * Structured Outputs) and the parsing of replies (content as JSON,
 * refusal, finish_reason, usage and cost, errors, the key never shown).
 * The fixtures are t/fixtures/openai/ (run from the repository's top). */
#include <math.h>
#include <stdlib.h>

#include "openai.h"
#include "unit.h"

static jv parse(const char *s)
{
	jrn_err e;
	jv v = jrn_parse_value(s, strlen(s), &e);
	if (!jv_is_valid(v))
		printf("# bad test JSON: %s\n", e.msg);
	return v;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("# cannot open %s (run from the repository's top)\n", path);
		*n = 0;
		return strdup("");
	}
	jrn_buf b = {0};
	char chunk[4096];
	size_t k;
	while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
		jrn_buf_add(&b, chunk, k);
	fclose(f);
	*n = b.len;
	return b.p ? b.p : strdup("");
}

/* Loads a model from the YAML-ish config as JSON text. */
static int load(oai_model *m, const char *json, jrn_err *e)
{
	jv cfg = parse(json);
	jv mc = jrn_config_get(cfg, "ai.models.gpt");
	memset(m, 0, sizeof *m);
	int rc = oai_model_load(m, "gpt", mc, cfg, "ai.models.gpt", e);
	jv_free(mc);
	jv_free(cfg);
	return rc;
}

static enum oai_kind reply_file(const oai_model *m, long status, const char *file, oai_reply *r)
{
	char path[256];
	size_t n;
	snprintf(path, sizeof path, "t/fixtures/openai/%s", file);
	char *body = slurp(path, &n);
	enum oai_kind k = oai_reply_parse(m, status, body, n, r);
	free(body);
	return k;
}

static jv get(jv v, const char *path)
{
	/* a dotted path with numbers for array items */
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) {
		if (jv_get_kind(v) == JV_KIND_ARRAY)
			v = jv_array_get(v, atoi(tok));
		else if (jv_get_kind(v) == JV_KIND_OBJECT)
			v = jv_object_get(v, jv_string(tok));
		else {
			jv_free(v);
			return jv_invalid();
		}
	}
	return v;
}

static const char *str(jv v, const char *path)
{
	static char out[4][4096];
	static int k;
	jv s = get(jv_copy(v), path);
	k = (k + 1) % 4;
	snprintf(out[k], sizeof out[k], "%s", jv_get_kind(s) == JV_KIND_STRING ? jv_string_value(s) : "(none)");
	jv_free(s);
	return out[k];
}

static double num(jv v, const char *path)
{
	jv s = get(jv_copy(v), path);
	double d = jv_get_kind(s) == JV_KIND_NUMBER ? jv_number_value(s) : -999;
	jv_free(s);
	return d;
}

static void test_config(void)
{
	oai_model m;
	jrn_err e;
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"kind\":\"openai\",\"model\":\"gpt-4o-mini\"}}}}", &e) == 0,
	      "a model with only model: loads");
	CHECK_STR(m.url, "https://api.openai.com/v1/chat/completions", "baseUrl defaults to OpenAI's");
	CHECK(m.in_flight == 8 && m.retries == 3 && m.timeout_ms == 30000 && m.temperature < 0 &&
		      m.max_tokens == 0 && !m.api_key && m.rpm == 0 && m.tpm == 0,
	      "defaults: inFlight 8, retries 3, timeout 30 s, no temperature, maxTokens, key or limits");
	oai_model_free(&m);

	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"kind\":\"openai\",\"model\":\"m\",\"baseUrl\":"
		       "\"http://127.0.0.1:9/v1/\",\"apiKey\":\"sk-test-123456789\",\"temperature\":0,"
		       "\"maxTokens\":800,\"timeout\":\"2s\",\"inFlight\":32,\"rpm\":500,\"tpm\":200000,"
		       "\"price\":{\"input\":0.15,\"output\":0.6},\"retries\":1}}}}", &e) == 0,
	      "every key: loads");
	CHECK_STR(m.url, "http://127.0.0.1:9/v1/chat/completions", "a trailing / of baseUrl is dropped");
	CHECK(m.temperature == 0 && m.max_tokens == 800 && m.timeout_ms == 2000 && m.in_flight == 32 &&
		      m.rpm == 500 && m.tpm == 200000 && m.price_in == 0.15 && m.price_out == 0.6 &&
		      m.retries == 1,
	      "every key: read");
	CHECK_STR(m.api_key, "sk-test-123456789", "apiKey read");
	oai_model_free(&m);

	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"kind\":\"openai\"}}}}", &e) < 0 &&
		      strstr(e.msg, "ai.models.gpt.model: the model's id at the endpoint is required"),
	      "model is required: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"temprature\":0}}}}", &e) < 0 &&
		      strstr(e.msg, "unknown key temprature (did you mean temperature?)"),
	      "an unknown key, with a suggestion: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"temperature\":3}}}}", &e) < 0 &&
		      strstr(e.msg, "ai.models.gpt.temperature: 3 is out of range (0 to 2)"),
	      "temperature over 2: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"inFlight\":257}}}}", &e) < 0 &&
		      strstr(e.msg, "inFlight: 257 is out of range (1 to 256)"),
	      "inFlight over 256: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"retries\":11}}}}", &e) < 0 &&
		      strstr(e.msg, "retries: 11 is out of range (0 to 10)"),
	      "retries over 10: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"timeout\":\"11m\"}}}}", &e) < 0 &&
		      strstr(e.msg, "out of range (1 ms to 10 min)"),
	      "timeout over 10 min: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"baseUrl\":\"ftp://x\"}}}}", &e) < 0 &&
		      strstr(e.msg, "ftp://x is not an http:// or https:// URL"),
	      "baseUrl not http(s): %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"apiKey\":7}}}}", &e) < 0 &&
		      strstr(e.msg, "apiKey: must be a string") && !strstr(e.msg, "7"),
	      "an apiKey that is no string: said without its value: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"maxTokens\":1.5}}}}", &e) < 0 &&
		      strstr(e.msg, "maxTokens: 1.5 is not a whole number"),
	      "maxTokens not whole: %s", e.msg);
	oai_model_free(&m);
	CHECK(load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"price\":{\"input\":-1}}}}}", &e) < 0 &&
		      strstr(e.msg, "price.input: -1 is out of range"),
	      "a negative price: %s", e.msg);
	oai_model_free(&m);
}

static void test_request(void)
{
	oai_model m;
	jrn_err e;
	load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"maxTokens\":800,"
		 "\"apiKey\":\"sk-secret-abcdefgh\"}}}}", &e);
	jv schema = parse("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
			  "\"required\":[\"a\"],\"additionalProperties\":false}");
	jv input = parse("{\"customerId\":\"c1\",\"orders\":3,\"city\":\"Zürich\"}");
	oai_ask a = {.system = "You build a customer state.", .input = input, .schema = schema,
		     .schema_name = "customer_state", .errors = jv_null()};
	jrn_buf b = {0};
	CHECK(oai_request_body(&m, &a, &b, &e) == 0, "a request body");
	jv req = parse(b.p ? b.p : "null");
	CHECK_STR(str(req, "model"), "gpt-4o-mini", "model");
	CHECK(num(req, "temperature") == 0 && num(req, "max_tokens") == 800, "temperature and max_tokens");
	CHECK_STR(str(req, "messages.0.role"), "system", "first message: system");
	CHECK_STR(str(req, "messages.0.content"), "You build a customer state.", "the system prompt");
	CHECK_STR(str(req, "messages.1.role"), "user", "second: user");
	CHECK_STR(str(req, "messages.1.content"), "{\"customerId\":\"c1\",\"orders\":3,\"city\":\"Zürich\"}",
		  "the user message: the input as compact JSON");
	jv msgs = get(jv_copy(req), "messages");
	CHECK(jv_array_length(msgs) == 2, "two messages on a first try");
	msgs = jv_invalid();
	CHECK_STR(str(req, "response_format.type"), "json_schema", "response_format json_schema");
	CHECK_STR(str(req, "response_format.json_schema.name"), "customer_state", "its name");
	jv strict = get(jv_copy(req), "response_format.json_schema.strict");
	CHECK(jv_get_kind(strict) == JV_KIND_TRUE, "strict: true");
	jv_free(strict);
	jv sch = get(jv_copy(req), "response_format.json_schema.schema");
	CHECK(jv_equal(sch, jv_copy(schema)), "the schema as given");
	CHECK(!strstr(b.p, "sk-secret"), "the key is not in the body (it is a header)");
	jv_free(req);
	jrn_buf_reset(&b);

	/* the retry: the answer and the errors */
	/* (each message starts with its path, as jrn_schema_validate writes it) */
	jv errs = parse("[{\"path\":\"/journeyStage\",\"keyword\":\"enum\",\"message\":\"/journeyStage: must be one of "
			"awareness, consideration\"},{\"path\":\"/churnRiskScore\",\"keyword\":\"maximum\",\"message\":"
			"\"/churnRiskScore: must be <= 1\"}]");
	a.prev = "{\"journeyStage\":\"loyalty\",\"churnRiskScore\":1.7}";
	a.errors = errs;
	CHECK(oai_request_body(&m, &a, &b, &e) == 0, "a retry body");
	req = parse(b.p);
	msgs = get(jv_copy(req), "messages");
	CHECK(jv_array_length(msgs) == 4, "four messages on the retry");
	msgs = jv_invalid();
	CHECK_STR(str(req, "messages.2.role"), "assistant", "third: the assistant's answer");
	CHECK_STR(str(req, "messages.2.content"), a.prev, "as it was written");
	CHECK_STR(str(req, "messages.3.role"), "user", "fourth: user");
	const char *t = str(req, "messages.3.content");
	CHECK(strstr(t, "- /journeyStage: must be one of awareness, consideration\n") &&
		      strstr(t, "- /churnRiskScore: must be <= 1\n") && strstr(t, "Answer again"),
	      "the errors, one a line, and the ask: %s", t);
	jv_free(req);
	jrn_buf_free(&b);
	jv_free(errs);

	/* no temperature, no max_tokens when not configured */
	oai_model_free(&m);
	load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"llama3\"}}}}", &e);
	a.prev = NULL;
	a.errors = jv_null();
	oai_request_body(&m, &a, &b, &e);
	CHECK(b.p && !strstr(b.p, "\"temperature\"") && !strstr(b.p, "\"max_tokens\""),
	      "temperature and max_tokens left out when not configured");
	jrn_buf_free(&b);
	jv_free(schema);
	jv_free(input);
	oai_model_free(&m);
}

static void test_reply(void)
{
	oai_model m;
	jrn_err e;
	load(&m, "{\"ai\":{\"models\":{\"gpt\":{\"model\":\"m\",\"apiKey\":\"sk-proj-SECRETSECRET1234\","
		 "\"price\":{\"input\":0.15,\"output\":0.6}}}}}", &e);
	oai_reply r = {0};
	r.value = jv_invalid();

	CHECK(reply_file(&m, 200, "state-valid.json", &r) == OAI_OK, "a valid answer: OK");
	CHECK_STR(str(r.value, "journeyStage"), "purchase", "the content parsed as JSON");
	CHECK(num(r.value, "churnRiskScore") == 0.12, "numbers as written");
	CHECK(r.prompt_tokens == 412 && r.completion_tokens == 87, "usage read");
	CHECK(fabs(r.cost - (412 * 0.15 + 87 * 0.6) / 1e6) < 1e-15, "cost by the price per 1M tokens: %.10f", r.cost);
	CHECK(r.content && strstr(r.content, "\"journeyStage\": \"purchase\""), "the content as written kept");

	CHECK(reply_file(&m, 200, "actions-valid.json", &r) == OAI_OK, "the actions answer: OK");
	CHECK_STR(str(r.value, "actions.1.actionType"), "sms", "its second action");

	CHECK(reply_file(&m, 200, "state-invalid.json", &r) == OAI_OK,
	      "JSON that breaks the schema is still OK here (the core validates)");
	CHECK(num(r.value, "churnRiskScore") == 1.7, "as the model wrote it");

	CHECK(reply_file(&m, 200, "not-json.json", &r) == OAI_BAD, "text that is not JSON: BAD");
	CHECK(strstr(r.why, "the answer is not JSON: invalid JSON at byte 1"), "why: %s", r.why);
	CHECK(r.content && !strncmp(r.content, "Sure!", 5), "its content kept for the retry");

	CHECK(reply_file(&m, 200, "refusal.json", &r) == OAI_REFUSED, "a refusal: REFUSED");
	CHECK_STR(r.why, "the model refused: I'm sorry, I cannot help with that request.", "why");
	CHECK(r.prompt_tokens == 400 && r.completion_tokens == 12, "a refusal's tokens still count");

	CHECK(reply_file(&m, 200, "length.json", &r) == OAI_BAD, "finish_reason length: BAD");
	CHECK(strstr(r.why, "cut at the token limit (finish_reason length"), "why: %s", r.why);

	CHECK(reply_file(&m, 429, "429.json", &r) == OAI_FAILED && r.transient, "429: FAILED, transient");
	CHECK(strstr(r.why, "HTTP 429: Rate limit reached for gpt-4o-mini"), "the server's message: %s", r.why);
	CHECK(reply_file(&m, 500, "500.json", &r) == OAI_FAILED && r.transient, "500: FAILED, transient");
	CHECK(reply_file(&m, 400, "500.json", &r) == OAI_FAILED && !r.transient, "400: FAILED, not transient");

	const char *k401 = "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-SECRETSECRET1234. "
			   "You can find your API key at https://platform.openai.com/account/api-keys.\","
			   "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";
	CHECK(oai_reply_parse(&m, 401, k401, strlen(k401), &r) == OAI_FAILED && !r.transient, "401: FAILED");
	CHECK(!strstr(r.why, "SECRET") && strstr(r.why, "refused the API key"), "401: the key not quoted: %s", r.why);
	const char *k400 = "{\"error\":{\"message\":\"bad: sk-proj-SECRETSECRET1234 and SECRETSE\",\"type\":\"x\","
			   "\"param\":null,\"code\":null}}";
	oai_reply_parse(&m, 400, k400, strlen(k400), &r);
	CHECK(!strstr(r.why, "SECRET") && !strstr(r.why, "ECRETSE"), "any 8 bytes of the key cut: %s", r.why);

	const char *nochoice = "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[]}";
	CHECK(oai_reply_parse(&m, 200, nochoice, strlen(nochoice), &r) == OAI_FAILED &&
		      strstr(r.why, "no choices[0].message"),
	      "no choices: FAILED: %s", r.why);
	CHECK(oai_reply_parse(&m, 200, "<html>", 6, &r) == OAI_FAILED && strstr(r.why, "not a chat completion"),
	      "not JSON at all: FAILED: %s", r.why);
	CHECK(oai_reply_parse(&m, 200, "", 0, &r) == OAI_FAILED && strstr(r.why, "(an empty body)"), "an empty body: FAILED: %s", r.why);
	const char *filt = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
			   "\"refusal\":null},\"finish_reason\":\"content_filter\",\"logprobs\":null}]}";
	CHECK(oai_reply_parse(&m, 200, filt, strlen(filt), &r) == OAI_REFUSED && strstr(r.why, "content filter"),
	      "content_filter: REFUSED: %s", r.why);
	const char *nul = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
			  "\"refusal\":null},\"finish_reason\":\"stop\",\"logprobs\":null}]}";
	CHECK(oai_reply_parse(&m, 200, nul, strlen(nul), &r) == OAI_BAD && strstr(r.why, "no content"),
	      "content null without a refusal: BAD: %s", r.why);
	const char *ctl = "{\"error\":{\"message\":\"a\\nb\\u001b[31m\"}}";
	oai_reply_parse(&m, 503, ctl, strlen(ctl), &r);
	CHECK(!strchr(r.why, '\n') && !strchr(r.why, 0x1b), "control characters of the server's text: spaces");
	oai_reply_free(&r);
	oai_model_free(&m);
}

int main(void)
{
	test_config();
	test_request();
	test_reply();
	return unit_done();
}
