/* The text of --describe-plugins, built from the descriptors alone: no
 * plugin code runs beyond the init the loader already called. */
#include "autoconf.h"

#include "plugin/plugin_describe.h"

static const char *
type_name(vp_conf_type_t type)
{
    switch (type) {
    case VP_CONF_STRING:
        return "string";
    case VP_CONF_INT:
        return "int";
    case VP_CONF_BOOL:
        return "bool";
    case VP_CONF_DURATION:
        return "duration";
    case VP_CONF_PATH:
        return "path";
    case VP_CONF_MODE:
        return "mode";
    }
    return "unknown";
}

static void
describe_schema(const vp_conf_field_t *schema, FILE *out)
{
    if (!schema || !schema->key) {
        fprintf(out, "    (no configuration keys)\n");
        return;
    }
    for (const vp_conf_field_t *f = schema; f->key; f++) {
        fprintf(out, "    %s: %s", f->key, type_name(f->type));
        if (f->flags & VP_CONF_REQUIRED)
            fprintf(out, ", required");
        if (f->flags & VP_CONF_SECRET)
            fprintf(out, ", secret");
        /* The default of a secret key is shown: it is in the plugin's
         * own published binary, not in anyone's configuration. */
        if (f->default_value)
            fprintf(out, ", default \"%s\"", f->default_value);
        if (f->help && f->help[0])
            fprintf(out, " -- %s", f->help);
        fputc('\n', out);
    }
}

int
vpd_plugins_describe(const vpd_registry *reg, FILE *out)
{
    for (size_t i = 0; i < reg->n; i++) {
        const vpd_plugin *p = &reg->v[i];
        const vp_plugin_t *d = p->desc;
        fprintf(out, "%s%s %s (ABI %u.%u) %s\n", i ? "\n" : "", d->name,
                d->version ? d->version : "?", d->abi_major, d->abi_minor,
                p->path);
        if (d->summary && d->summary[0])
            fprintf(out, "  %s\n", d->summary);
        for (const vp_provide_t *pr = p->layout.provides; pr->kind; pr++) {
            fprintf(out, "  %s \"%s\"\n", vpd_kind_name(pr->kind), pr->name);
            describe_schema(pr->schema, out);
        }
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
