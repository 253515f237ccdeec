/* A stack machine: one loop over the instruction array of a named
 * template, a value stack, a stack of dots (with) and of iterations
 * (range).  {{template}} recurses into the same loop with fresh stacks,
 * as Go starts a new variable scope there. */
#include "autoconf.h"

#include "agent/tmpl_eval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl_lex.h"
#include "agent/tmpl_pos.h"

typedef struct {
    tmpl_value *coll;
    size_t idx, n;
    uint32_t kslot, vslot;
    size_t dots; /* the dot stack's depth when the range began */
} range_frame;

typedef struct {
    const tmpl_program *prog;
    tmpl_call *call;
    vpd_buf *out;
    size_t steps, max_steps, depth, max_depth;
    size_t out_start, max_output;
} evaluator;

typedef struct {
    tmpl_value **stack;
    size_t sp, stack_cap;
    tmpl_value **dots;
    size_t ndots, dots_cap;
    range_frame *frames;
    size_t nframes, frames_cap;
    tmpl_value **slots;
    size_t nslots;
} frame;

static int rt_error(evaluator *e, const tmpl_proc *proc, const tmpl_insn *in,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
rt_error(evaluator *e, const tmpl_proc *proc, const tmpl_insn *in,
         const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    vpd_tmpl_line_col(e->prog->src, in->off, &line, &col);
    size_t n = in->end > in->off ? in->end - in->off : 0;
    snprintf(e->call->err, e->call->errlen,
             "%s:%d:%d: executing \"%s\" at <%.*s>: %s", e->prog->file, line,
             col, proc->name, (int)(n > 80 ? 80 : n), e->prog->src + in->off,
             msg);
    return -1;
}

static int
push(frame *f, tmpl_value *v)
{
    if (f->sp == f->stack_cap) {
        size_t cap = f->stack_cap ? f->stack_cap * 2 : 16;
        tmpl_value **s = realloc(f->stack, cap * sizeof(*s));
        if (!s) {
            vpd_tmpl_unref(v);
            return -1;
        }
        f->stack = s;
        f->stack_cap = cap;
    }
    f->stack[f->sp++] = v;
    return 0;
}

static tmpl_value *
pop(frame *f)
{
    return f->sp ? f->stack[--f->sp] : NULL;
}

static int
push_dot(frame *f, tmpl_value *v)
{
    if (f->ndots == f->dots_cap) {
        size_t cap = f->dots_cap ? f->dots_cap * 2 : 8;
        tmpl_value **d = realloc(f->dots, cap * sizeof(*d));
        if (!d) {
            vpd_tmpl_unref(v);
            return -1;
        }
        f->dots = d;
        f->dots_cap = cap;
    }
    f->dots[f->ndots++] = v;
    return 0;
}

static void
pop_dots_to(frame *f, size_t depth)
{
    while (f->ndots > depth)
        vpd_tmpl_unref(f->dots[--f->ndots]);
}

static void
end_range(frame *f)
{
    range_frame *r = &f->frames[--f->nframes];
    pop_dots_to(f, r->dots);
    vpd_tmpl_unref(r->coll);
}

static void
set_slot(frame *f, uint32_t slot, tmpl_value *v)
{
    vpd_tmpl_unref(f->slots[slot]);
    f->slots[slot] = v;
}

static int
field(evaluator *e, frame *f, const tmpl_proc *proc, const tmpl_insn *in)
{
    tmpl_value *v = pop(f);
    const char *name = e->prog->strs[in->a];
    int rc = 0;
    if (vpd_tmpl_kind(v) == TMPL_MAP) {
        bool found;
        tmpl_value *r = vpd_tmpl_map_get(v, name, &found);
        if (!found && e->prog->missing_key_error)
            rc = rt_error(e, proc, in, "map has no entry for key \"%s\"", name);
        else
            rc = push(f, vpd_tmpl_ref(r));
    } else if (!v) {
        /* Go: a field of a missing value is missing too, unless missing
         * keys are errors.  While some answer is "not yet", nil is
         * expected (it stands for the data not fetched), so the pass
         * goes on to discover the rest. */
        if (e->prog->missing_key_error && !e->call->incomplete)
            rc = rt_error(e, proc, in, "nil data; no entry for key \"%s\"",
                          name);
        else
            rc = push(f, NULL);
    } else {
        rc = rt_error(e, proc, in, "can't evaluate field %s in type %s", name,
                      vpd_tmpl_type_name(v));
    }
    vpd_tmpl_unref(v);
    return rc;
}

static int
call_fn(evaluator *e, frame *f, const tmpl_proc *proc, const tmpl_insn *in)
{
    size_t n = in->a;
    /* No arguments: the stack may not exist yet, and NULL + 0 is
     * undefined in C. */
    tmpl_value **args = n ? f->stack + f->sp - n : NULL;
    if (in->b && n > 1) {
        tmpl_value *final = args[0];
        memmove(args, args + 1, (n - 1) * sizeof(*args));
        args[n - 1] = final;
    }
    tmpl_value *r = NULL;
    e->call->err[0] = '\0';
    int rc = in->fn->fn(e->call, args, n, &r);
    for (size_t i = 0; i < n; i++)
        vpd_tmpl_unref(args[i]);
    f->sp -= n;
    if (rc != 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", e->call->err);
        return rt_error(e, proc, in, "error calling %s: %s", in->fn->name, why);
    }
    if (e->max_output && vpd_tmpl_kind(r) == TMPL_STRING &&
        r->u.s.len > e->max_output) {
        vpd_tmpl_unref(r);
        return rt_error(e, proc, in, "%s: result longer than %zu bytes",
                        in->fn->name, e->max_output);
    }
    return push(f, r);
}

static int
range_start(evaluator *e, frame *f, const tmpl_proc *proc, const tmpl_insn *in,
            uint32_t *pc)
{
    tmpl_value *v = pop(f);
    size_t n = 0;
    switch (vpd_tmpl_kind(v)) {
    case TMPL_NIL:
        break; /* Go: ranging over nothing runs the else branch */
    case TMPL_LIST:
        n = v->u.list.len;
        break;
    case TMPL_MAP:
        n = v->u.map.len;
        break;
    case TMPL_INT:
        n = v->u.i > 0 ? (size_t)v->u.i : 0;
        if (in->b) {
            vpd_tmpl_unref(v);
            return rt_error(e, proc, in,
                            "can't use an int to iterate over more than "
                            "one variable");
        }
        break;
    default: {
        vpd_buf b = VPD_BUF_INIT;
        vpd_tmpl_fmt_v(&b, v);
        int rc = rt_error(e, proc, in, "range can't iterate over %s",
                          b.data ? b.data : "");
        vpd_buf_free(&b);
        vpd_tmpl_unref(v);
        return rc;
    }
    }
    if (n == 0) {
        vpd_tmpl_unref(v);
        *pc = in->a;
        return 0;
    }
    if (f->nframes == f->frames_cap) {
        size_t cap = f->frames_cap ? f->frames_cap * 2 : 4;
        range_frame *r = realloc(f->frames, cap * sizeof(*r));
        if (!r) {
            vpd_tmpl_unref(v);
            return -1;
        }
        f->frames = r;
        f->frames_cap = cap;
    }
    /* A placeholder dot that each iteration replaces, so break and the
     * loop's end pop exactly what the loop pushed. */
    if (push_dot(f, NULL) != 0) {
        vpd_tmpl_unref(v);
        return -1;
    }
    f->frames[f->nframes++] =
        (range_frame){v, 0, n, in->b, in->c, f->ndots - 1};
    return 0;
}

/* One iteration: 1 when the loop is done, 0 when the body should run,
 * -1 when memory ran out. */
static int
range_next(frame *f)
{
    range_frame *r = &f->frames[f->nframes - 1];
    if (r->idx >= r->n) {
        end_range(f);
        return 1;
    }
    tmpl_value *key, *elem;
    size_t i = r->idx++;
    switch (r->coll->kind) {
    case TMPL_MAP:
        key = vpd_tmpl_str(r->coll->u.map.keys[i]);
        elem = vpd_tmpl_ref(r->coll->u.map.vals[i]);
        break;
    case TMPL_LIST:
        key = vpd_tmpl_int((int64_t)i);
        elem = vpd_tmpl_ref(r->coll->u.list.items[i]);
        break;
    default:
        key = vpd_tmpl_int((int64_t)i);
        elem = vpd_tmpl_int((int64_t)i);
        break;
    }
    if (!key || (!elem && r->coll->kind == TMPL_INT)) {
        vpd_tmpl_unref(key);
        vpd_tmpl_unref(elem);
        return -1;
    }
    pop_dots_to(f, r->dots);
    if (r->kslot)
        set_slot(f, r->kslot - 1, vpd_tmpl_ref(key));
    if (r->vslot)
        set_slot(f, r->vslot - 1, vpd_tmpl_ref(elem));
    vpd_tmpl_unref(key);
    return push_dot(f, elem);
}

static int run(evaluator *e, uint32_t proc_index, tmpl_value *dot);

static int
step(evaluator *e, frame *f, const tmpl_proc *proc, uint32_t *pc)
{
    const tmpl_insn *in = &proc->code[*pc];
    (*pc)++;
    tmpl_value *v;
    switch (in->op) {
    case OP_TEXT: {
        const tmpl_value *t = e->prog->consts[in->a];
        return vpd_buf_append(e->out, t->u.s.ptr, t->u.s.len);
    }
    case OP_DOT:
        return push(f, vpd_tmpl_ref(f->dots[f->ndots - 1]));
    case OP_CONST:
        return push(f, vpd_tmpl_ref(e->prog->consts[in->a]));
    case OP_NIL:
        return push(f, NULL);
    case OP_VAR:
        return push(f, vpd_tmpl_ref(f->slots[in->a]));
    case OP_FIELD:
        return field(e, f, proc, in);
    case OP_CALL:
        return call_fn(e, f, proc, in);
    case OP_AND:
    case OP_OR: {
        bool t = vpd_tmpl_truth(f->stack[f->sp - 1]);
        if (t == (in->op == OP_OR))
            *pc = in->a;
        else
            vpd_tmpl_unref(pop(f));
        return 0;
    }
    case OP_PRINT:
        v = pop(f);
        if (vpd_tmpl_print(e->out, v) != 0) {
            vpd_tmpl_unref(v);
            return -1;
        }
        vpd_tmpl_unref(v);
        return 0;
    case OP_SET:
        set_slot(f, in->a, pop(f));
        return 0;
    case OP_DUP:
        return push(f, vpd_tmpl_ref(f->stack[f->sp - 1]));
    case OP_JUMP:
        *pc = in->a;
        return 0;
    case OP_JFALSE:
        v = pop(f);
        if (!vpd_tmpl_truth(v))
            *pc = in->a;
        vpd_tmpl_unref(v);
        return 0;
    case OP_WITH:
        v = pop(f);
        if (!vpd_tmpl_truth(v)) {
            *pc = in->a;
            vpd_tmpl_unref(v);
            return 0;
        }
        return push_dot(f, v);
    case OP_WITH_END:
        pop_dots_to(f, f->ndots - 1);
        return 0;
    case OP_RANGE:
        return range_start(e, f, proc, in, pc);
    case OP_RANGE_NEXT: {
        int r = range_next(f);
        if (r == 1)
            *pc = in->a;
        return r < 0 ? -1 : 0;
    }
    case OP_RANGE_BREAK:
        end_range(f);
        return 0;
    case OP_TEMPLATE: {
        if (e->depth >= e->max_depth)
            return rt_error(e, proc, in,
                            "exceeded maximum template depth (%zu)",
                            e->max_depth);
        v = pop(f);
        e->depth++;
        int rc = run(e, in->a, v);
        e->depth--;
        vpd_tmpl_unref(v);
        return rc;
    }
    }
    return -1;
}

static int
run(evaluator *e, uint32_t proc_index, tmpl_value *dot)
{
    const tmpl_proc *proc = &e->prog->procs[proc_index];
    frame f = {0};
    int rc = -1;
    f.nslots = proc->nslots;
    f.slots = calloc(f.nslots ? f.nslots : 1, sizeof(*f.slots));
    if (!f.slots || push_dot(&f, vpd_tmpl_ref(dot)) != 0)
        goto out;
    f.slots[0] = vpd_tmpl_ref(dot);
    uint32_t pc = 0;
    rc = 0;
    while (pc < proc->len) {
        if (e->max_steps && ++e->steps > e->max_steps) {
            rc = rt_error(e, proc, &proc->code[pc],
                          "exceeded the render's step limit (%zu)",
                          e->max_steps);
            break;
        }
        if (e->max_output && e->out->len - e->out_start > e->max_output) {
            rc = rt_error(e, proc, &proc->code[pc ? pc - 1 : 0],
                          "exceeded the render's output limit (%zu bytes)",
                          e->max_output);
            break;
        }
        if (step(e, &f, proc, &pc) != 0) {
            rc = -1;
            if (!e->call->err[0])
                rt_error(e, proc, &proc->code[pc ? pc - 1 : 0],
                         "out of memory");
            break;
        }
    }
out:
    while (f.nframes)
        end_range(&f);
    while (f.sp)
        vpd_tmpl_unref(pop(&f));
    pop_dots_to(&f, 0);
    for (size_t i = 0; f.slots && i < f.nslots; i++)
        vpd_tmpl_unref(f.slots[i]);
    free(f.slots);
    free(f.stack);
    free(f.dots);
    free(f.frames);
    if (rc != 0 && !e->call->err[0])
        snprintf(e->call->err, e->call->errlen, "%s: out of memory",
                 e->prog->file);
    return rc;
}

int
vpd_tmpl_eval(const tmpl_program *p, tmpl_call *call, const tmpl_limits *limits,
              tmpl_value *dot, vpd_buf *out)
{
    evaluator e = {p, call, out, 0, 0, 0, 1000, out->len, 0};
    if (limits && limits->max_steps)
        e.max_steps = limits->max_steps;
    if (limits && limits->max_depth)
        e.max_depth = limits->max_depth;
    if (limits && limits->max_output)
        e.max_output = limits->max_output;
    call->err[0] = '\0';
    return run(&e, 0, dot);
}
