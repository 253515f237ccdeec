/* The HCL/JSON reader: tree shapes, positions, exact error messages, and
 * robustness against random and mutated input. */
#include "autoconf.h"

#include "config/cfgtree.h"
#include "test.h"

#include <stdint.h>

static vpd_cfg_tree
parse_ok(const char *text)
{
    vpd_cfg_tree t;
    char err[512];
    if (vpd_cfg_parse("t.hcl", text, strlen(text), &t, err, sizeof(err)) != 0)
        TEST_FAIL_("parse failed: %s", err);
    ASSERT_NOT_NULL(t.root);
    ASSERT_INT_EQ(t.root->type, VPD_CFG_OBJECT);
    return t;
}

/* The error message of a failing parse, file name "t.hcl". */
static const char *
parse_err(const char *text, size_t len)
{
    static char err[512];
    vpd_cfg_tree t;
    err[0] = '\0';
    if (vpd_cfg_parse("t.hcl", text, len, &t, err, sizeof(err)) == 0)
        TEST_FAIL_("parse of \"%s\" succeeded", text);
    ASSERT_NULL(t.root);
    ASSERT(strchr(err, '\n') == NULL);
    return err;
}

#define ERR(text) parse_err((text), strlen(text))

static const vpd_cfg_node *
get(const vpd_cfg_node *obj, const char *key)
{
    const vpd_cfg_member *m = vpd_cfg_get(obj, key);
    if (!m)
        TEST_FAIL_("no key \"%s\"", key);
    return m->value;
}

TEST(scalars_and_numbers)
{
    vpd_cfg_tree t = parse_ok("s = \"x\"\n"
                              "i = 42\n"
                              "neg = -3\n"
                              "f = 1.5\n"
                              "e = 2e3\n"
                              "hex = 0x1F\n"
                              "oct = 0640\n"
                              "zero = 0\n"
                              "yes = true\n"
                              "no = false\n");
    const vpd_cfg_node *r = t.root;
    ASSERT_INT_EQ(r->n_members, 10);
    ASSERT_STR_EQ(get(r, "s")->str, "x");
    ASSERT_INT_EQ(get(r, "s")->type, VPD_CFG_STRING);
    ASSERT_INT_EQ(get(r, "i")->num, 42);
    ASSERT(!get(r, "i")->is_float);
    ASSERT_INT_EQ(get(r, "neg")->num, -3);
    ASSERT(get(r, "f")->is_float);
    ASSERT(get(r, "f")->fnum == 1.5);
    ASSERT_INT_EQ(get(r, "f")->num, 1);
    ASSERT(get(r, "e")->fnum == 2000.0);
    ASSERT_INT_EQ(get(r, "hex")->num, 31);
    ASSERT_STR_EQ(get(r, "hex")->str, "0x1F");
    /* HCL v1 reads a leading 0 as octal (hashicorp/vault#9404). */
    ASSERT_INT_EQ(get(r, "oct")->num, 416);
    ASSERT_STR_EQ(get(r, "oct")->str, "0640");
    ASSERT_INT_EQ(get(r, "zero")->num, 0);
    ASSERT_INT_EQ(get(r, "yes")->type, VPD_CFG_BOOL);
    ASSERT(get(r, "yes")->boolean);
    ASSERT(!get(r, "no")->boolean);
    /* Positions: the member line and the value line. */
    ASSERT_INT_EQ(vpd_cfg_get(r, "oct")->line, 7);
    ASSERT_INT_EQ(get(r, "oct")->line, 7);
    ASSERT_STR_EQ(get(r, "oct")->file, "t.hcl");
    ASSERT_STR_EQ(t.file, "t.hcl");
    vpd_cfg_tree_free(&t);
}

TEST(labelled_blocks)
{
    vpd_cfg_tree t = parse_ok("listener \"tcp\" {\n"
                              "  address = \"127.0.0.1:8100\"\n"
                              "}\n"
                              "a \"x\" \"y\" { k = 1 }\n"
                              "vault {\n"
                              "  retry { num_retries = 5 }\n"
                              "}\n"
                              "config = { path = \"/p\" }\n"
                              "bare tcp { }\n");
    const vpd_cfg_node *r = t.root;
    const vpd_cfg_node *l = get(r, "listener");
    ASSERT_INT_EQ(l->type, VPD_CFG_OBJECT);
    ASSERT_INT_EQ(l->n_members, 1);
    ASSERT_STR_EQ(l->members[0].key, "tcp");
    ASSERT_STR_EQ(get(get(l, "tcp"), "address")->str, "127.0.0.1:8100");
    ASSERT_INT_EQ(get(get(l, "tcp"), "address")->line, 2);
    /* Several labels nest: a "x" "y" {} is a = {x = {y = {...}}}. */
    const vpd_cfg_node *y = get(get(get(r, "a"), "x"), "y");
    ASSERT_INT_EQ(get(y, "k")->num, 1);
    ASSERT_INT_EQ(get(get(get(r, "vault"), "retry"), "num_retries")->num, 5);
    ASSERT_STR_EQ(get(get(r, "config"), "path")->str, "/p");
    /* Identifier labels are HCL v1 too. */
    ASSERT_INT_EQ(get(get(r, "bare"), "tcp")->type, VPD_CFG_OBJECT);
    vpd_cfg_tree_free(&t);
}

TEST(repeated_keys_keep_source_order)
{
    vpd_cfg_tree t = parse_ok("listener \"tcp\" { address = \"a\" }\n"
                              "x = 1\n"
                              "listener \"unix\" { address = \"b\" }\n"
                              "x = 2\n");
    const vpd_cfg_node *r = t.root;
    ASSERT_INT_EQ(r->n_members, 4);
    ASSERT_STR_EQ(r->members[0].key, "listener");
    ASSERT_STR_EQ(r->members[2].key, "listener");
    ASSERT_STR_EQ(r->members[2].value->members[0].key, "unix");
    ASSERT_INT_EQ(r->members[2].line, 3);
    /* vpd_cfg_get returns the first. */
    ASSERT_INT_EQ(get(r, "x")->num, 1);
    ASSERT_INT_EQ(r->members[3].value->num, 2);
    vpd_cfg_tree_free(&t);
}

TEST(lists)
{
    vpd_cfg_tree t = parse_ok("a = [1, \"two\", true,]\n"
                              "b = []\n"
                              "c = [[1], [2, 3]]\n"
                              "d = [\n  { k = 1 },\n  { k = 2 }\n]\n");
    const vpd_cfg_node *a = get(t.root, "a");
    ASSERT_INT_EQ(a->type, VPD_CFG_LIST);
    ASSERT_INT_EQ(a->n_items, 3);
    ASSERT_INT_EQ(a->items[0]->num, 1);
    ASSERT_STR_EQ(a->items[1]->str, "two");
    ASSERT(a->items[2]->boolean);
    ASSERT_INT_EQ(get(t.root, "b")->n_items, 0);
    const vpd_cfg_node *c = get(t.root, "c");
    ASSERT_INT_EQ(c->items[1]->n_items, 2);
    ASSERT_INT_EQ(c->items[1]->items[1]->num, 3);
    const vpd_cfg_node *d = get(t.root, "d");
    ASSERT_INT_EQ(d->n_items, 2);
    ASSERT_INT_EQ(get(d->items[1], "k")->num, 2);
    ASSERT_INT_EQ(d->items[1]->line, 6);
    vpd_cfg_tree_free(&t);
}

TEST(heredocs)
{
    vpd_cfg_tree t = parse_ok("a = <<EOF\n"
                              "hello \"x\"\n"
                              "  world\n"
                              "EOF\n"
                              "b = <<-END\n"
                              "    one\n"
                              "\n"
                              "      two\n"
                              "    END\n"
                              "c = 3\n"
                              "d = <<-X\n"
                              "  kept\n"
                              " short\n"
                              "  X\n");
    ASSERT_STR_EQ(get(t.root, "a")->str, "hello \"x\"\n  world\n");
    ASSERT_INT_EQ(get(t.root, "a")->line, 1);
    /* <<- removes the indentation of the closing anchor. */
    ASSERT_STR_EQ(get(t.root, "b")->str, "one\n\n  two\n");
    ASSERT_INT_EQ(vpd_cfg_get(t.root, "c")->line, 10);
    /* A line indented less than the anchor: nothing is removed. */
    ASSERT_STR_EQ(get(t.root, "d")->str, "  kept\n short\n");
    vpd_cfg_tree_free(&t);
}

TEST(comments)
{
    vpd_cfg_tree t = parse_ok("# hash\n"
                              "a = 1 // slash\n"
                              "/* block\n"
                              "   over lines */ b = 2\n"
                              "c = \"# not a comment\"\n"
                              "d = \"// nor this\" # but this\n");
    ASSERT_INT_EQ(t.root->n_members, 4);
    ASSERT_INT_EQ(vpd_cfg_get(t.root, "b")->line, 4);
    ASSERT_STR_EQ(get(t.root, "c")->str, "# not a comment");
    ASSERT_STR_EQ(get(t.root, "d")->str, "// nor this");
    vpd_cfg_tree_free(&t);
}

TEST(escapes)
{
    vpd_cfg_tree t = parse_ok("a = \"q\\\"b\\\\s\\nn\\tt\"\n"
                              "u = \"\\u00e9\\u20ac\"\n"
                              "i = \"${var.x[\"k\"]}\"\n");
    ASSERT_STR_EQ(get(t.root, "a")->str, "q\"b\\s\nn\tt");
    ASSERT_STR_EQ(get(t.root, "u")->str, "\xc3\xa9\xe2\x82\xac");
    /* Quotes inside ${...} do not end the string (HCL v1). */
    ASSERT_STR_EQ(get(t.root, "i")->str, "${var.x[\"k\"]}");
    vpd_cfg_tree_free(&t);
}

TEST(keys_and_commas)
{
    vpd_cfg_tree t = parse_ok("\"quoted key\" = 1\n"
                              "dotted.name-x_1 = 2\n"
                              "o = { a = 1, b = 2 }\n"
                              "p = { a = 1 b = 2, }\n"
                              "q = {\n  a = 1\n  b = 2\n}\n");
    ASSERT_INT_EQ(get(t.root, "quoted key")->num, 1);
    ASSERT_INT_EQ(get(t.root, "dotted.name-x_1")->num, 2);
    ASSERT_INT_EQ(get(t.root, "o")->n_members, 2);
    ASSERT_INT_EQ(get(get(t.root, "p"), "b")->num, 2);
    ASSERT_INT_EQ(get(get(t.root, "q"), "b")->line, 7);
    vpd_cfg_tree_free(&t);
}

TEST(json_shapes_and_lines)
{
    const char *text = "\n{\n"
                       "  \"listener\": [\n"
                       "    {\"tcp\": {\"address\": \"a\"}},\n"
                       "    {\"unix\": {\"address\": \"b\"}}\n"
                       "  ],\n"
                       "  \"n\": -12, \"f\": 0.5, \"z\": null,\n"
                       "  \"s\": \"\\u00e9\\n\\ud83d\\ude00\",\n"
                       "  \"o\": {}\n"
                       "}\n";
    vpd_cfg_tree t;
    char err[256];
    ASSERT_INT_EQ(
        vpd_cfg_parse("t.json", text, strlen(text), &t, err, sizeof(err)), 0);
    const vpd_cfg_node *l = get(t.root, "listener");
    ASSERT_INT_EQ(l->type, VPD_CFG_LIST);
    ASSERT_INT_EQ(l->n_items, 2);
    ASSERT_STR_EQ(get(get(l->items[1], "unix"), "address")->str, "b");
    ASSERT_INT_EQ(l->items[1]->line, 5);
    ASSERT_INT_EQ(vpd_cfg_get(t.root, "listener")->line, 3);
    ASSERT_INT_EQ(get(t.root, "n")->num, -12);
    ASSERT(get(t.root, "f")->is_float);
    ASSERT_INT_EQ(get(t.root, "z")->type, VPD_CFG_NULL);
    ASSERT_STR_EQ(get(t.root, "s")->str, "\xc3\xa9\n\xf0\x9f\x98\x80");
    ASSERT_INT_EQ(vpd_cfg_get(t.root, "s")->line, 8);
    ASSERT_INT_EQ(get(t.root, "o")->n_members, 0);
    vpd_cfg_tree_free(&t);
}

TEST(hcl_and_json_give_the_same_shape)
{
    const char *hcl = "listener \"tcp\" {\n  address = \"x\"\n}\n";
    const char *json = "{\"listener\": {\"tcp\": {\"address\": \"x\"}}}";
    vpd_cfg_tree a = parse_ok(hcl), b = parse_ok(json);
    ASSERT_STR_EQ(get(get(get(a.root, "listener"), "tcp"), "address")->str,
                  get(get(get(b.root, "listener"), "tcp"), "address")->str);
    vpd_cfg_tree_free(&a);
    vpd_cfg_tree_free(&b);
}

TEST(syntax_errors_name_file_and_line)
{
    /* A forgotten '=': the value reads as a label, then '=' follows. */
    ASSERT_STR_EQ(ERR("listener \"tcp\" {\n"
                      "  # the address\n"
                      "\n"
                      "\n"
                      "\n"
                      "\n"
                      "  addres \"127.0.0.1:8100\"\n"
                      "  tls_disable = true\n"
                      "}\n"),
                  "t.hcl:7: expected '=' or '{' after key \"addres\"");
    ASSERT_STR_EQ(ERR("a = 1\nb : 2\n"),
                  "t.hcl:2: expected '=' or '{' after key \"b\"");
    ASSERT_STR_EQ(ERR("a = 1\nb = foo\n"),
                  "t.hcl:2: invalid value for key \"b\" (strings need double "
                  "quotes)");
    ASSERT_STR_EQ(ERR("a = 08\n"), "t.hcl:1: invalid number");
    ASSERT_STR_EQ(ERR("a = 99999999999999999999\n"),
                  "t.hcl:1: number out of range");
    ASSERT_STR_EQ(ERR("a = [1 2]\n"),
                  "t.hcl:1: unexpected character '2', expected ',' or ']' in "
                  "list");
    ASSERT_STR_EQ(ERR("a = [1,\n2,\n"),
                  "t.hcl:1: unterminated list (expected ']')");
    ASSERT_STR_EQ(ERR("vault {\n  a = 1\n"),
                  "t.hcl:1: unterminated block (expected '}')");
    ASSERT_STR_EQ(ERR("a = 1\n}\n"), "t.hcl:2: unexpected '}'");
    ASSERT_STR_EQ(ERR("a =\n"),
                  "t.hcl:2: expected a value for key \"a\", got end of input");
    ASSERT_STR_EQ(ERR("= 1\n"),
                  "t.hcl:1: unexpected character '=', expected a key");
    ASSERT_STR_EQ(ERR("a = \"x\\qy\"\n"),
                  "t.hcl:1: invalid escape sequence in string");
    ASSERT_STR_EQ(ERR("a = \"\\u0000\"\n"), "t.hcl:1: NUL character in string");
    ASSERT_STR_EQ(parse_err("a = 1\nb\0 = 2\n", 12),
                  "t.hcl:2: unexpected NUL byte");
}

TEST(unterminated_things)
{
    ASSERT_STR_EQ(ERR("a = 1\nb = \"abc\nc = 2\n"),
                  "t.hcl:2: unterminated string");
    ASSERT_STR_EQ(ERR("a = \"abc"), "t.hcl:1: unterminated string");
    ASSERT_STR_EQ(ERR("a = \"abc\\"), "t.hcl:1: unterminated string");
    ASSERT_STR_EQ(ERR("x = 1\na = <<EOF\nline\nEOFX\n"),
                  "t.hcl:2: unterminated heredoc (expected \"EOF\")");
    ASSERT_STR_EQ(ERR("a = <<EOF"),
                  "t.hcl:1: heredoc anchor must be an identifier followed by "
                  "a newline");
    ASSERT_STR_EQ(ERR("a = 1\n\n/* open\n comment\n"),
                  "t.hcl:3: unterminated comment");
}

TEST(nesting_too_deep)
{
    char text[1024];
    size_t o = (size_t)snprintf(text, sizeof(text), "a = ");
    for (int i = 0; i < 70; i++)
        text[o++] = '[';
    ASSERT_STR_EQ(parse_err(text, o), "t.hcl:1: nesting too deep (limit 64)");
    o = 0;
    for (int i = 0; i < 70; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "b {\n");
    ASSERT_STR_EQ(parse_err(text, o), "t.hcl:65: nesting too deep (limit 64)");
    /* Labels nest as well. */
    o = (size_t)snprintf(text, sizeof(text), "a");
    for (int i = 0; i < 70; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, " \"l\"");
    o += (size_t)snprintf(text + o, sizeof(text) - o, " {}");
    ASSERT_STR_CONTAINS(parse_err(text, o), "nesting too deep (limit 64)");
    /* JSON: json-c's own limit is above ours. */
    o = 0;
    for (int i = 0; i < 70; i++)
        text[o++] = '{', text[o++] = '"', text[o++] = 'a', text[o++] = '"',
        text[o++] = ':';
    text[o++] = '1';
    for (int i = 0; i < 70; i++)
        text[o++] = '}';
    ASSERT_STR_EQ(parse_err(text, o), "t.hcl:1: nesting too deep (limit 64)");
    /* 60 levels are fine. */
    o = 0;
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "b {\n");
    for (int i = 0; i < 60; i++)
        text[o++] = '}';
    vpd_cfg_tree t;
    char err[256];
    ASSERT_INT_EQ(vpd_cfg_parse("t.hcl", text, o, &t, err, sizeof(err)), 0);
    vpd_cfg_tree_free(&t);
}

TEST(invalid_json_reports_line)
{
    ASSERT_STR_EQ(ERR("{\n \"a\": 1,\n \"b\": }"),
                  "t.hcl:3: invalid JSON: unexpected character");
    ASSERT_STR_EQ(ERR("\n{\n \"a\": 1\n"),
                  "t.hcl:4: invalid JSON: unexpected end of input");
    ASSERT_STR_EQ(ERR("{\"a\": [1, 2,]}"),
                  "t.hcl:1: invalid JSON: unexpected character");
    ASSERT_STR_CONTAINS(ERR("{\"a\": 1}\n\nx"), "t.hcl:3: invalid JSON: ");
    /* Comments are not JSON. */
    ASSERT_STR_CONTAINS(ERR("{\"a\": 1 /* c */}"), "t.hcl:1: invalid JSON: ");
    ASSERT_STR_EQ(ERR("{\"a\": \"\\u0000\"}"),
                  "t.hcl:1: NUL character in string");
}

TEST(get_and_type_names)
{
    vpd_cfg_tree t = parse_ok("a = 1\n");
    ASSERT_NULL(vpd_cfg_get(t.root, "b"));
    ASSERT_NULL(vpd_cfg_get(get(t.root, "a"), "x"));
    ASSERT_NULL(vpd_cfg_get(NULL, "x"));
    ASSERT_STR_EQ(vpd_cfg_type_name(VPD_CFG_STRING), "string");
    ASSERT_STR_EQ(vpd_cfg_type_name(VPD_CFG_NUMBER), "number");
    ASSERT_STR_EQ(vpd_cfg_type_name(VPD_CFG_BOOL), "bool");
    ASSERT_STR_EQ(vpd_cfg_type_name(VPD_CFG_NULL), "null");
    ASSERT_STR_EQ(vpd_cfg_type_name(VPD_CFG_LIST), "list");
    ASSERT_STR_EQ(vpd_cfg_type_name(VPD_CFG_OBJECT), "object");
    vpd_cfg_tree_free(&t);
    /* An empty file, or one with only comments, is an empty object. */
    t = parse_ok("");
    ASSERT_INT_EQ(t.root->n_members, 0);
    vpd_cfg_tree_free(&t);
    t = parse_ok("\xef\xbb\xbf# only a comment\n");
    ASSERT_INT_EQ(t.root->n_members, 0);
    vpd_cfg_tree_free(&t);
}

TEST(parse_file)
{
    vpd_cfg_tree t;
    char err[512];
    ASSERT_INT_EQ(vpd_cfg_parse_file(VP_TEST_DATADIR "/config/full.hcl", &t,
                                     err, sizeof(err)),
                  0);
    ASSERT_STR_EQ(t.file, VP_TEST_DATADIR "/config/full.hcl");
    ASSERT_NOT_NULL(vpd_cfg_get(t.root, "listener"));
    vpd_cfg_tree_free(&t);
    ASSERT_INT_EQ(
        vpd_cfg_parse_file("/nonexistent/x.hcl", &t, err, sizeof(err)), -1);
    ASSERT_STR_EQ(err, "/nonexistent/x.hcl: cannot read: No such file or "
                       "directory");
}

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void
parse_any(const char *text, size_t len)
{
    vpd_cfg_tree t;
    char err[128];
    if (vpd_cfg_parse("f.hcl", text, len, &t, err, sizeof(err)) == 0) {
        ASSERT_NOT_NULL(t.root);
        vpd_cfg_tree_free(&t);
    } else {
        ASSERT(strncmp(err, "f.hcl:", 6) == 0);
        ASSERT(strchr(err, '\n') == NULL);
    }
}

TEST(robust_against_random_and_mutated_input)
{
    static const char *const seeds[] = {
        "listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n  tls_disable = "
        "true\n}\napi_proxy { use_auto_auth_token = \"force\" }\n",
        "a = <<-EOF\n  x\n  EOF\nb = [1, 0x10, 0640, -2.5e3, \"s\\u00e9\"]\n"
        "/* c */ c \"l\" { d = { e = [] } } # x\n",
        "{\"listener\": [{\"tcp\": {\"address\": \"a\", \"n\": [1, 2.5, null, "
        "true]}}], \"s\": \"\\ud83d\\ude00\"}",
        "x = \"${a[\"b\"]}\" // c\ny = <<EOF\nz\nEOF\n",
    };
    static const char alphabet[] = "{}[]=\",:#/*<-\\\n \tabc019xEOF.\0\r$u";
    char buf[512];
    /* Every truncation of every seed. */
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++)
        for (size_t n = 0; n <= strlen(seeds[s]); n++)
            parse_any(seeds[s], n);
    /* Mutations: replace, insert or delete a few bytes. */
    for (int iter = 0; iter < 3000; iter++) {
        const char *seed = seeds[rng() % (sizeof(seeds) / sizeof(seeds[0]))];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = 1 + (int)(rng() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? (size_t)(rng() % len) : 0;
            char ch = (rng() % 4 == 0)
                          ? (char)(rng() & 0xff)
                          : alphabet[rng() % (sizeof(alphabet) - 1)];
            switch (rng() % 3) {
            case 0:
                if (len)
                    buf[at] = ch;
                break;
            case 1:
                if (len + 1 < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = ch;
                    len++;
                }
                break;
            default:
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        parse_any(buf, len);
    }
    /* Pure noise from the syntax alphabet and from all bytes. */
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = (size_t)(rng() % sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = iter % 2 ? (char)(rng() & 0xff)
                              : alphabet[rng() % (sizeof(alphabet) - 1)];
        parse_any(buf, len);
    }
}

int
main(void)
{
    return RUN_TESTS(T(scalars_and_numbers), T(labelled_blocks),
                     T(repeated_keys_keep_source_order), T(lists), T(heredocs),
                     T(comments), T(escapes), T(keys_and_commas),
                     T(json_shapes_and_lines),
                     T(hcl_and_json_give_the_same_shape),
                     T(syntax_errors_name_file_and_line),
                     T(unterminated_things), T(nesting_too_deep),
                     T(invalid_json_reports_line), T(get_and_type_names),
                     T(parse_file), T(robust_against_random_and_mutated_input));
}
