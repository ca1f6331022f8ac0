/* providers.c: the table of provider types. A new type is one file with
 * its provider_ops and one row here. */
#include <string.h>

#include "jrn-send.h"

extern const provider_ops smtp_ops, twilio_ops, webhook_ops, retargeting_ops;

static const provider_ops *const types[] = {
	&spool_ops, &smtp_ops, &twilio_ops, &webhook_ops, &retargeting_ops,
};

const char provider_type_names[] = "smtp, twilio, webhook, retargeting or spool";

const provider_ops *provider_type(const char *type)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(type, types[i]->type))
			return types[i];
	return NULL;
}
