/* Tree to instructions.  Each control structure becomes jumps, so the
 * evaluator is one loop over an array; variables become slots, so their
 * scopes (Go's: to the {{end}} of the control that declares them) are
 * settled here and cost nothing at render time.  Errors unwind with
 * longjmp; everything allocated hangs off the program or the compiler
 * and is freed by the caller of the jump. */
#include "autoconf.h"

#include "agent/tmpl_compile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl_lex.h"
#include "agent/tmpl_parse.h"
#include "agent/tmpl_pos.h"

typedef struct {
    const char *name;
    uint32_t slot;
} scope_var;

/* Jumps to patch once a loop's end is known. */
typedef struct {
    size_t *breaks;
    size_t nbreaks, cap;
    uint32_t next; /* where {{continue}} goes */
} loop;

typedef struct {
    tmpl_program *prog;
    const tmpl_parsed *parsed;
    tmpl_proc *proc;
    scope_var *vars;
    size_t nvars, vars_cap;
    loop *loops;
    size_t nloops, loops_cap;
    const char *const *denylist; /* NULL-terminated; may be NULL */
    char *err;
    size_t errlen;
    jmp_buf fail;
} compiler;

static void fail_at(compiler *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_at(compiler *c, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpd_tmpl_vmsg_at(c->err, c->errlen, c->prog->file, c->prog->src, off, fmt,
                     ap);
    va_end(ap);
    longjmp(c->fail, 1);
}

static void *
grow(compiler *c, void *arr, size_t *cap, size_t len, size_t elem)
{
    if (len < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *r = realloc(arr, ncap * elem);
    if (!r)
        fail_at(c, 0, "out of memory");
    *cap = ncap;
    return r;
}

static uint32_t
emit(compiler *c, tmpl_opcode op, uint32_t a, const tmpl_node *n)
{
    tmpl_proc *p = c->proc;
    p->code = grow(c, p->code, &p->cap, p->len, sizeof(*p->code));
    p->code[p->len] =
        (tmpl_insn){op, a, 0, 0, NULL, (uint32_t)n->off, (uint32_t)n->end};
    return (uint32_t)p->len++;
}

static uint32_t
here(compiler *c)
{
    return (uint32_t)c->proc->len;
}

static void
patch(compiler *c, uint32_t at)
{
    c->proc->code[at].a = here(c);
}

static uint32_t
add_const(compiler *c, tmpl_value *v)
{
    tmpl_program *p = c->prog;
    if (!v)
        fail_at(c, 0, "out of memory");
    p->consts =
        grow(c, p->consts, &p->consts_cap, p->nconsts, sizeof(*p->consts));
    p->consts[p->nconsts] = v;
    return (uint32_t)p->nconsts++;
}

static uint32_t
add_str(compiler *c, const char *s)
{
    tmpl_program *p = c->prog;
    p->strs = grow(c, p->strs, &p->strs_cap, p->nstrs, sizeof(*p->strs));
    p->strs[p->nstrs] = strdup(s);
    if (!p->strs[p->nstrs])
        fail_at(c, 0, "out of memory");
    return (uint32_t)p->nstrs++;
}

static uint32_t
declare(compiler *c, const char *name)
{
    c->vars = grow(c, c->vars, &c->vars_cap, c->nvars, sizeof(*c->vars));
    c->vars[c->nvars] = (scope_var){name, c->proc->nslots++};
    return c->vars[c->nvars++].slot;
}

static uint32_t
lookup(compiler *c, const char *name, size_t off)
{
    for (size_t i = c->nvars; i-- > 0;)
        if (strcmp(c->vars[i].name, name) == 0)
            return c->vars[i].slot;
    fail_at(c, off, "undefined variable \"%s\"", name);
    return 0;
}

static void pipeline(compiler *c, const tmpl_node *pipe);
static void list(compiler *c, const tmpl_node *l);

static void
fields(compiler *c, const tmpl_node *n)
{
    for (size_t i = 0; i < n->nidents; i++) {
        uint32_t at = emit(c, OP_FIELD, add_str(c, n->idents[i]), n);
        c->proc->code[at].end = (uint32_t)n->end;
    }
}

static const tmpl_func *
function(compiler *c, const tmpl_node *ident, size_t nargs)
{
    const tmpl_func *f = vpd_tmpl_func_lookup(ident->text);
    if (!f)
        fail_at(c, ident->off, "function \"%s\" not defined", ident->text);
    /* A denied function is refused where it is named, so a config that
     * uses one fails at start rather than at its first render. */
    for (size_t i = 0; c->denylist && c->denylist[i]; i++)
        if (strcmp(c->denylist[i], ident->text) == 0)
            fail_at(c, ident->off,
                    "function \"%s\" is denied by function_denylist",
                    ident->text);
    if ((int)nargs < f->min_args ||
        (f->max_args >= 0 && (int)nargs > f->max_args)) {
        if (f->min_args == f->max_args)
            fail_at(c, ident->off,
                    "wrong number of args for %s: want %d got %zu", ident->text,
                    f->min_args, nargs);
        if ((int)nargs < f->min_args)
            fail_at(c, ident->off,
                    "wrong number of args for %s: want at least %d got %zu",
                    ident->text, f->min_args, nargs);
        fail_at(c, ident->off,
                "wrong number of args for %s: want at most %d got %zu",
                ident->text, f->max_args, nargs);
    }
    return f;
}

/* with_final: the previous command's value sits below the arguments on
 * the stack and is to be passed last, as Go passes it. */
static void
call(compiler *c, const tmpl_node *ident, const tmpl_node *cmd, size_t nargs,
     bool with_final)
{
    const tmpl_func *f = function(c, ident, nargs);
    uint32_t at = emit(c, OP_CALL, (uint32_t)nargs, cmd);
    c->proc->code[at].fn = f;
    c->proc->code[at].b = with_final;
}

/* One argument's value onto the stack. */
static void
operand(compiler *c, const tmpl_node *n)
{
    switch (n->kind) {
    case N_DOT:
        emit(c, OP_DOT, 0, n);
        return;
    case N_NIL:
        emit(c, OP_NIL, 0, n);
        return;
    case N_BOOL:
        emit(c, OP_CONST, add_const(c, vpd_tmpl_bool(n->b)), n);
        return;
    case N_NUMBER:
        emit(c, OP_CONST,
             add_const(c,
                       n->is_float ? vpd_tmpl_float(n->f) : vpd_tmpl_int(n->i)),
             n);
        return;
    case N_STRING:
        emit(c, OP_CONST, add_const(c, vpd_tmpl_strn(n->text, n->text_len)), n);
        return;
    case N_FIELD:
        emit(c, OP_DOT, 0, n);
        fields(c, n);
        return;
    case N_VAR:
        emit(c, OP_VAR, lookup(c, n->text, n->off), n);
        fields(c, n);
        return;
    case N_CHAIN:
        operand(c, n->base);
        fields(c, n);
        return;
    case N_PIPE:
        pipeline(c, n);
        if (n->nvars) {
            emit(c, OP_DUP, 0, n);
            for (size_t i = 0; i < n->nvars; i++)
                emit(c, OP_SET,
                     n->is_assign ? lookup(c, n->vars[i], n->var_offs[i])
                                  : declare(c, n->vars[i]),
                     n);
        }
        return;
    case N_IDENT:
        /* A function name as an argument is a call with no arguments. */
        call(c, n, n, 0, false);
        return;
    default:
        fail_at(c, n->off, "unexpected node in operand");
    }
}

/* One command of a pipeline; with_final: the previous command's value
 * is already on the stack and becomes the last argument. */
static void
command(compiler *c, const tmpl_node *cmd, bool with_final)
{
    const tmpl_node *first = cmd->kids[0];
    if (first->kind != N_IDENT) {
        if (cmd->nkids > 1 || with_final) {
            const char *what = first->kind == N_FIELD || first->kind == N_CHAIN
                                   ? "field"
                                   : "non-function";
            fail_at(c, first->off, "can't give argument to %s %.*s", what,
                    (int)(first->end - first->off), c->prog->src + first->off);
        }
        if (first->kind == N_NIL)
            fail_at(c, first->off, "nil is not a command");
        operand(c, first);
        return;
    }
    size_t nargs = cmd->nkids - 1 + (with_final ? 1 : 0);
    bool is_and = strcmp(first->text, "and") == 0;
    if ((is_and || strcmp(first->text, "or") == 0) && !with_final &&
        nargs > 0) {
        /* Go evaluates and/or lazily: stop at the first argument that
         * decides, so {{if and .a (index .a 0)}} is safe on an empty a. */
        uint32_t start = here(c);
        for (size_t i = 1; i < cmd->nkids; i++) {
            operand(c, cmd->kids[i]);
            if (i + 1 < cmd->nkids)
                emit(c, is_and ? OP_AND : OP_OR, UINT32_MAX, cmd);
        }
        /* Nested and/or were patched when they ended, so the unpatched
         * ones in this range are this command's. */
        for (uint32_t at = start; at < here(c); at++) {
            tmpl_insn *in = &c->proc->code[at];
            if ((in->op == OP_AND || in->op == OP_OR) && in->a == UINT32_MAX)
                in->a = here(c);
        }
        return;
    }
    /* Check the name before compiling the arguments, so the error is
     * about the first thing wrong in reading order. */
    function(c, first, nargs);
    for (size_t i = 1; i < cmd->nkids; i++)
        operand(c, cmd->kids[i]);
    call(c, first, cmd, nargs, with_final);
}

/* Leaves the pipeline's value on the stack (declarations are the
 * caller's business). */
static void
pipeline(compiler *c, const tmpl_node *pipe)
{
    for (size_t i = 0; i < pipe->nkids; i++)
        command(c, pipe->kids[i], i > 0);
}

static void
declare_pipe_vars(compiler *c, const tmpl_node *pipe)
{
    for (size_t i = 0; i < pipe->nvars; i++) {
        uint32_t slot = pipe->is_assign
                            ? lookup(c, pipe->vars[i], pipe->var_offs[i])
                            : declare(c, pipe->vars[i]);
        if (i + 1 < pipe->nvars)
            emit(c, OP_DUP, 0, pipe);
        emit(c, OP_SET, slot, pipe);
    }
}

static void
if_or_with(compiler *c, const tmpl_node *n)
{
    size_t mark = c->nvars;
    pipeline(c, n->pipe);
    if (n->pipe->nvars) {
        emit(c, OP_DUP, 0, n->pipe);
        declare_pipe_vars(c, n->pipe);
    }
    uint32_t test = emit(c, n->kind == N_IF ? OP_JFALSE : OP_WITH, 0, n);
    size_t body_mark = c->nvars;
    list(c, n->list);
    c->nvars = body_mark;
    if (n->kind == N_WITH)
        emit(c, OP_WITH_END, 0, n);
    uint32_t skip = emit(c, OP_JUMP, 0, n);
    patch(c, test);
    if (n->else_list)
        list(c, n->else_list);
    patch(c, skip);
    c->nvars = mark;
}

static void
range(compiler *c, const tmpl_node *n)
{
    size_t mark = c->nvars;
    pipeline(c, n->pipe);
    uint32_t kslot = 0, vslot = 0;
    const tmpl_node *p = n->pipe;
    for (size_t i = 0; i < p->nvars; i++) {
        uint32_t s = p->is_assign ? lookup(c, p->vars[i], p->var_offs[i])
                                  : declare(c, p->vars[i]);
        /* One variable takes the element; two take key and element. */
        if (p->nvars == 2 && i == 0)
            kslot = s + 1;
        else
            vslot = s + 1;
    }
    uint32_t start = emit(c, OP_RANGE, 0, n->pipe);
    c->proc->code[start].b = kslot;
    c->proc->code[start].c = vslot;
    uint32_t next = emit(c, OP_RANGE_NEXT, 0, n);
    c->loops = grow(c, c->loops, &c->loops_cap, c->nloops, sizeof(*c->loops));
    c->loops[c->nloops++] = (loop){NULL, 0, 0, next};
    list(c, n->list);
    emit(c, OP_JUMP, next, n);
    loop lp = c->loops[--c->nloops];
    patch(c, start);
    if (n->else_list)
        list(c, n->else_list);
    patch(c, next);
    for (size_t i = 0; i < lp.nbreaks; i++)
        patch(c, (uint32_t)lp.breaks[i]);
    free(lp.breaks);
    c->nvars = mark;
}

static uint32_t
find_proc(compiler *c, const tmpl_node *n)
{
    for (size_t i = 0; i < c->parsed->ntrees; i++)
        if (strcmp(c->parsed->trees[i].name, n->text) == 0)
            return (uint32_t)i;
    fail_at(c, n->off, "template \"%s\" not defined", n->text);
    return 0;
}

static void
list(compiler *c, const tmpl_node *l)
{
    for (size_t i = 0; i < l->nkids; i++) {
        const tmpl_node *n = l->kids[i];
        switch (n->kind) {
        case N_TEXT:
            emit(c, OP_TEXT, add_const(c, vpd_tmpl_strn(n->text, n->text_len)),
                 n);
            break;
        case N_ACTION:
            pipeline(c, n->pipe);
            if (n->pipe->nvars)
                declare_pipe_vars(c, n->pipe);
            else
                emit(c, OP_PRINT, 0, n->pipe);
            break;
        case N_IF:
        case N_WITH:
            if_or_with(c, n);
            break;
        case N_RANGE:
            range(c, n);
            break;
        case N_BREAK: {
            loop *lp = &c->loops[c->nloops - 1];
            emit(c, OP_RANGE_BREAK, 0, n);
            lp->breaks =
                grow(c, lp->breaks, &lp->cap, lp->nbreaks, sizeof(*lp->breaks));
            lp->breaks[lp->nbreaks++] = emit(c, OP_JUMP, 0, n);
            break;
        }
        case N_CONTINUE:
            emit(c, OP_JUMP, c->loops[c->nloops - 1].next, n);
            break;
        case N_TEMPLATE: {
            uint32_t target = find_proc(c, n);
            if (n->pipe)
                pipeline(c, n->pipe);
            else
                emit(c, OP_NIL, 0, n);
            emit(c, OP_TEMPLATE, target, n);
            break;
        }
        default:
            fail_at(c, n->off, "unexpected node in list");
        }
    }
}

static void
compile_all(compiler *c)
{
    tmpl_program *p = c->prog;
    p->procs = calloc(c->parsed->ntrees, sizeof(*p->procs));
    if (!p->procs)
        fail_at(c, 0, "out of memory");
    p->nprocs = c->parsed->ntrees;
    for (size_t i = 0; i < c->parsed->ntrees; i++) {
        const tmpl_tree *t = &c->parsed->trees[i];
        c->proc = &p->procs[i];
        c->proc->name = strdup(t->name);
        if (!c->proc->name)
            fail_at(c, 0, "out of memory");
        c->nvars = 0;
        declare(c, "$");
        list(c, t->root);
    }
}

int
vpd_tmpl_program_compile(const char *name, const char *src, size_t len,
                         const char *left, const char *right,
                         bool missing_key_error, const char *const *denylist,
                         tmpl_program **out, char *err, size_t errlen)
{
    *out = NULL;
    tmpl_parsed parsed;
    if (vpd_tmpl_parse(name, src, len, left, right, &parsed, err, errlen) != 0)
        return -1;
    compiler *c = calloc(1, sizeof(*c));
    tmpl_program *p = calloc(1, sizeof(*p));
    int rc = -1;
    if (!c || !p || !(p->file = strdup(name)) || !(p->src = malloc(len + 1))) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto done;
    }
    memcpy(p->src, src, len);
    p->src[len] = '\0';
    p->missing_key_error = missing_key_error;
    c->prog = p;
    c->parsed = &parsed;
    c->denylist = denylist;
    c->err = err;
    c->errlen = errlen;
    if (setjmp(c->fail) == 0) {
        compile_all(c);
        rc = 0;
    }
done:
    if (c) {
        for (size_t i = 0; i < c->nloops; i++)
            free(c->loops[i].breaks);
        free(c->loops);
        free(c->vars);
    }
    free(c);
    vpd_tmpl_parse_free(&parsed);
    if (rc == 0)
        *out = p;
    else
        vpd_tmpl_program_free(p);
    return rc;
}

void
vpd_tmpl_program_free(tmpl_program *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nprocs; i++) {
        free(p->procs[i].name);
        free(p->procs[i].code);
    }
    free(p->procs);
    for (size_t i = 0; i < p->nconsts; i++)
        vpd_tmpl_unref(p->consts[i]);
    free(p->consts);
    for (size_t i = 0; i < p->nstrs; i++)
        free(p->strs[i]);
    free(p->strs);
    free(p->file);
    free(p->src);
    free(p);
}
