/* config.c: the ai: section of jrn.yaml (jrn.yaml(5), jrn-ai(1)): the
 * models (rules always; each ai.models entry by name), the model asked,
 * the prompts, the cache TTL, the fields a prompt may carry, the
 * playbook (with the shipped defaults below) and the allow-list. */
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

/* The shipped playbook: per journey stage, and for the at_risk and
 * churned segments (which win over the stage), the actions of the rules
 * model. Campaign ids are the starter templates' names. */
static const char default_playbook[] =
	"{\"awareness\":[{\"actionType\":\"email\",\"campaignId\":\"welcome-1\","
	"\"subject\":\"Welcome\",\"messageContent\":\"Welcome: here is what we have for you.\","
	"\"metricsToTrack\":[\"opens\",\"clicks\"]}],"
	"\"consideration\":[{\"actionType\":\"email\",\"campaignId\":\"onboarding-1\","
	"\"subject\":\"Picked for you\",\"messageContent\":\"The products you looked at, and"
	" what goes with them.\",\"metricsToTrack\":[\"opens\",\"clicks\"]},"
	"{\"actionType\":\"retargeting\",\"campaignId\":\"browse-retarget\","
	"\"messageContent\":\"Viewed products\",\"metricsToTrack\":[\"conversions\"]}],"
	"\"purchase\":[{\"actionType\":\"email\",\"campaignId\":\"cart-5off\","
	"\"subject\":\"Your cart is waiting\",\"messageContent\":\"5% off what is in your cart.\","
	"\"timing\":\"1h\",\"metricsToTrack\":[\"clicks\",\"conversions\"]},"
	"{\"actionType\":\"sms\",\"campaignId\":\"cart-10off\",\"messageContent\":\"10% off your"
	" cart today.\",\"timing\":\"24h\",\"metricsToTrack\":[\"conversions\"]}],"
	"\"retention\":[{\"actionType\":\"email\",\"campaignId\":\"upsell\","
	"\"subject\":\"More of what you like\",\"messageContent\":\"New arrivals picked from"
	" your orders.\",\"metricsToTrack\":[\"opens\",\"clicks\",\"conversions\"]}],"
	"\"advocacy\":[{\"actionType\":\"email\",\"campaignId\":\"vip-reward\","
	"\"subject\":\"A thank-you for you\",\"messageContent\":\"A reward for being one of our"
	" best customers.\",\"metricsToTrack\":[\"opens\",\"conversions\"]}],"
	"\"at_risk\":[{\"actionType\":\"email\",\"campaignId\":\"winback\","
	"\"subject\":\"We miss you\",\"messageContent\":\"Come back: 15% off your next order.\","
	"\"metricsToTrack\":[\"opens\",\"conversions\"]}],"
	"\"churned\":[{\"actionType\":\"email\",\"campaignId\":\"winback\","
	"\"subject\":\"We miss you\",\"messageContent\":\"Come back: 15% off your next order.\","
	"\"metricsToTrack\":[\"opens\",\"conversions\"]},"
	"{\"actionType\":\"sms\",\"campaignId\":\"winback-last\",\"messageContent\":\"Last"
	" chance: 15% off your next order.\",\"timing\":\"72h\","
	"\"metricsToTrack\":[\"conversions\"]}]}";

/* The event types optimize answers without ai.touchpoints: what a
 * customer does that shows interest or intent (the seeds' touchpoint
 * events: 000's webhook, 001's and 003's event lists); not what happens
 * to a message (email.delivered, email.bounced, sms.*), nor consent,
 * refunds or cancellations, which a marketing action must not answer. */
static const char default_touchpoints[] =
	"[\"page.viewed\",\"article.viewed\",\"video.watched\",\"button.clicked\","
	"\"form.submitted\",\"product.*\",\"cart.*\",\"checkout.*\",\"order.completed\","
	"\"email.opened\",\"email.clicked\",\"push.opened\",\"user.signed_up\","
	"\"user.logged_in\",\"subscription.started\",\"subscription.upgraded\"]";

/* The profile keys a prompt carries without ai.fields. */
static const char default_fields[] = "[\"firstName\",\"locale\",\"timeZone\",\"country\",\"traits\"]";

static const char *const playbook_keys[] = {
	"awareness", "consideration", "purchase", "retention", "advocacy", "at_risk", "churned",
};

static const char *cfg_name(const ai_run *run)
{
	return run->opts.config_path ? run->opts.config_path : "config";
}

/* Where the key (key) or value at dotted is written in the run's config
 * (jrn_config_where: "FILE:LINE:COLUMN"), into buf; the config's name
 * when it has no file. Returns buf. */
static const char *cfg_where(const ai_run *run, const char *dotted, bool key, char *buf, size_t n)
{
	jrn_config_where(run->opts.config, dotted, key, buf, n);
	if (!*buf)
		snprintf(buf, n, "%s", cfg_name(run));
	return buf;
}

/* What is wrong with playbook entry a (borrowed), or NULL. */
static const char *play_bad(jv a)
{
	if (jv_get_kind(a) != JV_KIND_OBJECT)
		return "expected a mapping {actionType, campaignId, messageContent, ...}";
	const char *bad = NULL;
	jv t = jv_object_get(jv_copy(a), KS("actionType"));
	jv c = jv_object_get(jv_copy(a), KS("campaignId"));
	jv m = jv_object_get(jv_copy(a), KS("messageContent"));
	const char *ts = jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : "";
	if (strcmp(ts, "email") && strcmp(ts, "sms") && strcmp(ts, "retargeting"))
		bad = "actionType: expected email, sms or retargeting";
	else if (jv_get_kind(c) != JV_KIND_STRING || !jv_string_length_bytes(jv_copy(c)))
		bad = "campaignId: expected text";
	else if (jv_get_kind(m) != JV_KIND_STRING)
		bad = "messageContent: expected text";
	jv_free(t);
	jv_free(c);
	jv_free(m);
	return bad;
}

/* ai.playbook over the defaults (a stage it names replaces that stage's
 * list) into run->playbook. 0 or -1 (said). */
static int load_playbook(ai_run *run)
{
	run->playbook = jv_parse(default_playbook);
	jv pb = jrn_config_get(run->opts.config, "ai.playbook");
	if (!jv_is_valid(pb)) {
		jv_free(pb);
		return 0;
	}
	int rc = 0;
	jv_object_foreach(pb, k, v) {
		bool known = false;
		for (size_t i = 0; i < sizeof playbook_keys / sizeof *playbook_keys; i++)
			known = known || !strcmp(jv_string_value(k), playbook_keys[i]);
		const char *bad = !known ? "not a journey stage or at_risk, churned"
				  : jv_get_kind(v) != JV_KIND_ARRAY ? "expected a list of actions"
				  : jv_array_length(jv_copy(v)) > AI_MAX_ACTIONS
				  ? "at most 5 actions (AI_MAX_ACTIONS)" : NULL;
		int at = -1;
		if (!bad)
			jv_array_foreach(v, i, a) {
				if (!bad && (bad = play_bad(a)))
					at = i;
				jv_free(a);
			}
		if (bad && rc == 0) {
			char dotted[160], w[JRN_PATH_SHOWN + 32];
			if (at >= 0)
				snprintf(dotted, sizeof dotted, "ai.playbook.%.100s[%d]", jv_string_value(k), at);
			else
				snprintf(dotted, sizeof dotted, "ai.playbook.%.100s", jv_string_value(k));
			/* an unknown stage at its key, the rest at the value */
			rc = jrn_say(-1, "%s: %s: %s", cfg_where(run, dotted, !known, w, sizeof w), dotted, bad);
		}
		run->playbook = jv_object_set(run->playbook, k, v);
	}
	jv_free(pb);
	return rc;
}

/* Which channels have somewhere to go: with ai.allow.channels, those;
 * else each channel with a providers entry; with no providers section at
 * all, every channel (jrn-send spools what it cannot send). */
static void load_channels(ai_run *run)
{
	static const char *const ch[3] = {"email", "sms", "retargeting"};
	jv list = jv_get_kind(run->allow) == JV_KIND_OBJECT
			  ? jv_object_get(jv_copy(run->allow), KS("channels")) : jv_invalid();
	jv prov = jv_object_get(jv_copy(run->opts.config), KS("providers"));
	for (int i = 0; i < 3; i++) {
		if (jv_get_kind(list) == JV_KIND_ARRAY) {
			run->channel_ok[i] = false;
			jv_array_foreach(list, k, s) {
				if (jv_get_kind(s) == JV_KIND_STRING && !strcmp(jv_string_value(s), ch[i]))
					run->channel_ok[i] = true;
				jv_free(s);
				(void)k;
			}
		} else if (jv_get_kind(prov) == JV_KIND_OBJECT) {
			run->channel_ok[i] = jv_object_has(jv_copy(prov), jv_string(ch[i]));
		} else {
			run->channel_ok[i] = true;
		}
	}
	jv_free(list);
	jv_free(prov);
}

/* Says why model name (its conf borrowed) did not open: msg as its kind
 * wrote it, about one of its keys ("inFlight: ...", "unknown key K ...")
 * or the whole, at that key's place in the file (jrn_config_where). A
 * ${NAME} not set is said as the loader says it, with its own place.
 * Returns -1. */
static int model_failed(const ai_run *run, const char *name, jv conf, const char *msg)
{
	const char *unset = strstr(msg, ": ${");
	char where[JRN_PATH_SHOWN + 32], dotted[320];
	if (unset && strstr(unset, "} is not set")) {
		/* "KEY: FILE:LINE:COLUMN: PATH: ${NAME} is not set": from FILE on */
		const char *f = strchr(msg, ':');
		return jrn_say(-1, "%s", f && f[1] == ' ' ? f + 2 : msg);
	}
	size_t kl = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
	bool key = !strncmp(msg, "unknown key ", 12);
	const char *k = key ? msg + 12 : msg;
	if (key)
		kl = strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
	snprintf(dotted, sizeof dotted, "ai.models.%s", name);
	if (kl && kl < 64 && (key || k[kl] == ':' || k[kl] == '.') &&
	    jv_object_has(jv_copy(conf), jv_string_sized(k, (int)kl)))
		snprintf(dotted, sizeof dotted, "ai.models.%s.%.*s", name, (int)kl, k);
	jrn_config_where(run->opts.config, dotted, key, where, sizeof where);
	return jrn_say(-1, "%s: ai.models.%s: %s", *where ? where : cfg_name(run), name, msg);
}

/* m->identity from its conf (borrowed): [name, kind, then each of the
 * kind's answer_keys' values (null when absent)]; for rules, ai.playbook
 * and ai.insights.minSends, which its answers follow. 0 or -1 (said). */
static int model_identity(ai_run *run, ai_model *m, jv conf)
{
	jv id = JV_ARRAY(jv_string(m->name), jv_string(m->ops->kind));
	for (const char *const *k = m->ops->answer_keys; k && *k; k++) {
		jv v = jv_get_kind(conf) == JV_KIND_OBJECT ? jv_object_get(jv_copy(conf), jv_string(*k))
							  : jv_invalid();
		id = jv_array_append(id, jv_is_valid(v) ? v : jv_null());
	}
	if (m->ops == &rules_ops) {
		jv pb = jrn_config_get(run->opts.config, "ai.playbook");
		id = jv_array_append(id, jv_is_valid(pb) ? pb : jv_null());
		id = jv_array_append(id, jv_number((double)run->min_sends));
	}
	jv text = jv_dump_string(id, JV_PRINT_SORTED);
	m->identity = strdup(jv_string_value(text));
	jv_free(text);
	return m->identity ? 0 : jrn_say(-1, "out of memory");
}

/* Opens model *m of kind ops named name with conf (borrowed). 0 or -1
 * (said). */
static int open_model(ai_run *run, ai_model *m, const ai_model_ops *ops, const char *name,
		      jv conf)
{
	jrn_err e;
	m->ops = ops;
	m->run = run;
	if (!(m->name = strdup(name)))
		return jrn_say(-1, "out of memory");
	jv price = jv_get_kind(conf) == JV_KIND_OBJECT ? jv_object_get(jv_copy(conf), KS("price"))
							: jv_invalid();
	if (jv_get_kind(price) == JV_KIND_OBJECT) {
		jv in = jv_object_get(jv_copy(price), KS("input"));
		jv out = jv_object_get(jv_copy(price), KS("output"));
		m->price_in = jv_get_kind(in) == JV_KIND_NUMBER ? jv_number_value(in) : 0;
		m->price_out = jv_get_kind(out) == JV_KIND_NUMBER ? jv_number_value(out) : 0;
		jv_free(in);
		jv_free(out);
	}
	jv_free(price);
	int rc = ops->open(m, conf, &e) < 0 ? model_failed(run, name, conf, e.msg)
					     : model_identity(run, m, conf);
	if (rc < 0) { /* not yet counted in run->nmodels: not ai_teardown's */
		m->ops->close(m);
		m->ops = NULL;
		free(m->name);
		m->name = NULL;
	}
	return rc;
}

/* The names of the models for a message: "rules, gpt, local". */
static void model_names(jv models, char *out, size_t n)
{
	size_t len = (size_t)snprintf(out, n, "rules");
	if (jv_get_kind(models) == JV_KIND_OBJECT)
		jv_object_foreach(models, k, v) {
			if (len < n)
				len += (size_t)snprintf(out + len, n - len, ", %s", jv_string_value(k));
			jv_free(k);
			jv_free(v);
		}
}

/* The model asked (--model, ai.model, rules) into run->models[0..] and
 * run->model. 0 or the exit status (said). */
static int pick_model(ai_run *run)
{
	jv want = jrn_config_get(run->opts.config, "ai.model");
	const char *name = run->model_flag ? run->model_flag
			   : jv_get_kind(want) == JV_KIND_STRING ? jv_string_value(want) : "rules";
	jv models = jrn_config_get(run->opts.config, "ai.models");
	int status = 0;
	char w[JRN_PATH_SHOWN + 32];
	if (jv_get_kind(models) == JV_KIND_OBJECT && jv_object_has(jv_copy(models), KS("rules"))) {
		/* it could never be asked for: the name is the built-in one's */
		status = jrn_say(JRN_EXIT_FAIL, "%s: ai.models.rules: the name of the built-in"
				 " model: give this one another",
				 cfg_where(run, "ai.models.rules", true, w, sizeof w));
		goto done;
	}
	if (!(run->models = calloc(2, sizeof *run->models))) {
		status = jrn_say(JRN_EXIT_FAIL, "out of memory");
		goto done;
	}
	if (open_model(run, &run->models[0], &rules_ops, "rules", jv_null()) < 0) {
		status = JRN_EXIT_FAIL;
		goto done;
	}
	run->nmodels = 1;
	run->model = &run->models[0];
	if (!strcmp(name, "rules"))
		goto done;
	jv conf = jv_get_kind(models) == JV_KIND_OBJECT ? jv_object_get(jv_copy(models), jv_string(name))
							 : jv_invalid();
	jv kind = jv_get_kind(conf) == JV_KIND_OBJECT ? jv_object_get(jv_copy(conf), KS("kind"))
						       : jv_invalid();
	const ai_model_ops *ops = jv_get_kind(kind) == JV_KIND_STRING ? ai_model_kind(jv_string_value(kind))
								     : NULL;
	char names[512];
	model_names(models, names, sizeof names);
	int bad = run->model_flag ? JRN_EXIT_USAGE : JRN_EXIT_FAIL;
	if (!jv_is_valid(conf) && run->model_flag)
		status = jrn_say(bad, "--model '%s': no such model (choices: %s)", name, names);
	else if (!jv_is_valid(conf))
		status = jrn_say(bad, "%s: ai.model: no such model '%s' (choices: %s)",
				 cfg_where(run, "ai.model", false, w, sizeof w),
				 jrn_config_shown(run->opts.config, "ai.model", name), names);
	else if (jv_get_kind(conf) != JV_KIND_OBJECT || !ops)
	{
		char dotted[320];
		snprintf(dotted, sizeof dotted, "ai.models.%s.kind", name);
		status = jrn_say(JRN_EXIT_FAIL, "%s: ai.models.%s.kind: expected one of %s",
				 cfg_where(run, dotted, false, w, sizeof w), name, ai_kind_names);
	}
	else if (open_model(run, &run->models[1], ops, name, conf) < 0)
		status = JRN_EXIT_FAIL;
	else
		run->model = &run->models[run->nmodels++];
	jv_free(conf);
	jv_free(kind);
done:
	jv_free(want);
	jv_free(models);
	return status;
}

/* ai.touchpoints into run->touchpoints: strings, non-empty, a '*' only at
 * the end; the default list when absent. 0 or -1 (said). */
static int load_touchpoints(ai_run *run)
{
	jv v = jrn_config_get(run->opts.config, "ai.touchpoints");
	if (!jv_is_valid(v)) {
		jv_free(v);
		run->touchpoints = jv_parse(default_touchpoints);
		return 0;
	}
	run->touchpoints = v;
	char w[JRN_PATH_SHOWN + 32];
	if (jv_get_kind(v) != JV_KIND_ARRAY)
		return jrn_say(-1, "%s: ai.touchpoints: expected a list of event types",
			       cfg_where(run, "ai.touchpoints", false, w, sizeof w));
	int n = jv_array_length(jv_copy(v));
	for (int i = 0; i < n; i++) {
		jv t = jv_array_get(jv_copy(v), i);
		const char *s = jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : NULL;
		const char *star = s ? strchr(s, '*') : NULL;
		bool bad = !s || !*s || (star && star[1]);
		jv_free(t);
		char dotted[48];
		snprintf(dotted, sizeof dotted, "ai.touchpoints[%d]", i);
		if (bad)
			return jrn_say(-1, "%s: %s: expected an event type, a '*' only at the end (cart.*)",
				       cfg_where(run, dotted, false, w, sizeof w), dotted);
	}
	return 0;
}

bool ai_touchpoint(const ai_run *run, const char *t, size_t len)
{
	int n = jv_array_length(jv_copy(run->touchpoints));
	for (int i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(run->touchpoints), i);
		const char *s = jv_string_value(e);
		size_t sl = (size_t)jv_string_length_bytes(jv_copy(e));
		bool hit = sl && s[sl - 1] == '*' ? len >= sl - 1 && !memcmp(s, t, sl - 1)
						 : sl == len && !memcmp(s, t, len);
		jv_free(e);
		if (hit)
			return true;
	}
	return false;
}

/* The simple keys: cache, insights, fields, sendContact, allow. 0 or -1
 * (said). */
static int load_keys(ai_run *run)
{
	jrn_err e;
	run->ttl_ms = 7 * DAY_MS;
	if (jrn_config_duration(run->opts.config, "ai.cache.ttl", &run->ttl_ms, &e) < 0)
		return jrn_say(-1, "%s: ai.cache.ttl: %s", cfg_name(run), e.msg);
	if (jrn_config_bool(run->opts.config, "ai.cache.rules", &run->cache_rules, &e) < 0 ||
	    jrn_config_bool(run->opts.config, "ai.sendContact", &run->send_contact, &e) < 0)
		return jrn_say(-1, "%s: %s", cfg_name(run), e.msg);
	run->min_sends = 100;
	if (jrn_config_int(run->opts.config, "ai.insights.minSends", &run->min_sends, &e) < 0)
		return jrn_say(-1, "%s: %s", cfg_name(run), e.msg);
	run->fields = jrn_config_get(run->opts.config, "ai.fields");
	if (!jv_is_valid(run->fields)) {
		jv_free(run->fields);
		run->fields = jv_parse(default_fields);
	}
	/* (a list of strings: the config's schema said so) */
	int nf = jv_array_length(jv_copy(run->fields));
	free(run->field_names);
	if (!(run->field_names = malloc((nf ? (size_t)nf : 1) * sizeof *run->field_names)))
		return jrn_say(-1, "out of memory");
	for (int j = 0; j < nf; j++) {
		jv f = jv_array_get(jv_copy(run->fields), j);
		run->field_names[j] = jv_string_value(f); /* run->fields holds it */
		jv_free(f);
	}
	run->nfields = (size_t)nf;
	run->allow = jrn_config_get(run->opts.config, "ai.allow");
	if (!jv_is_valid(run->allow)) {
		jv_free(run->allow);
		run->allow = jv_null();
	}
	load_channels(run);
	return load_touchpoints(run);
}

int ai_setup(ai_run *run)
{
	jrn_err e;
	int status;
	if (load_keys(run) < 0 || load_playbook(run) < 0)
		return JRN_EXIT_FAIL;
	if (!(run->rules_answers = malloc((AI_PLAYS + 1) * sizeof *run->rules_answers)))
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	for (int i = 0; i <= AI_PLAYS; i++)
		run->rules_answers[i] = jv_invalid();
	if ((status = pick_model(run)))
		return status;
	char *dir = NULL;
	if (jrn_config_string(run->opts.config, "ai.prompts.dir", &dir, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", cfg_name(run), e.msg);
	for (int t = 0; t < AI_TASKS; t++)
		if (ai_prompt_load(&run->prompts[t], t, dir, &e) < 0) {
			free(dir);
			return jrn_say(JRN_EXIT_FAIL, "%s prompt: %s", ai_task_names[t], e.msg);
		}
	free(dir);
	if (run->parallel == 0) {
		run->parallel = 8;
		int64_t n;
		jv conf = jrn_config_get(run->opts.config, "ai.models");
		(void)conf;
		jv_free(conf);
		char path[300];
		snprintf(path, sizeof path, "ai.models.%s.inFlight", run->model->name);
		if (run->model != &run->models[0] && jrn_config_int(run->opts.config, path, &n, &e) == 1 &&
		    n >= 1 && n <= AI_MAX_PARALLEL)
			run->parallel = (int)n;
	}
	return 0;
}

void ai_teardown(ai_run *run)
{
	for (size_t i = 0; i < run->nmodels; i++) {
		if (run->models[i].ops)
			run->models[i].ops->close(&run->models[i]);
		free(run->models[i].name);
		free(run->models[i].identity);
	}
	free(run->models);
	run->models = NULL;
	run->nmodels = 0;
	for (int t = 0; t < AI_TASKS; t++)
		ai_prompt_free(&run->prompts[t]);
	for (int i = 0; run->rules_answers && i <= AI_PLAYS; i++)
		jv_free(run->rules_answers[i]);
	free(run->rules_answers);
	run->rules_answers = NULL;
	jv_free(run->fields);
	free(run->field_names);
	run->field_names = NULL;
	run->nfields = 0;
	jv_free(run->playbook);
	jv_free(run->allow);
	jv_free(run->touchpoints);
	run->fields = run->playbook = run->allow = run->touchpoints = jv_null();
	ai_cache_free(run);
	ai_facts_free(run);
}
