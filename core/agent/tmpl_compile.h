/* The template compiler: parse trees into one instruction list per named
 * template, for a small stack machine (tmpl_eval.c).  Names are resolved
 * here, once: functions against the table (unknown ones and wrong
 * argument counts are compile errors), variables to numbered slots,
 * {{template "x"}} to the index of x.  Rendering then never looks a name
 * up or walks a tree, which is what makes re-rendering cheap.
 *
 * Ownership: a tmpl_program owns its instructions, constants, strings
 * and a copy of the source (for error positions); vpd_tmpl_program_free
 * releases all of it.  Function pointers point into the static table. */
#ifndef VPD_TMPL_COMPILE_H
#define VPD_TMPL_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/tmpl_funcs.h"
#include "agent/tmpl_value.h"

typedef enum {
    OP_TEXT,   /* print consts[a] */
    OP_DOT,    /* push dot */
    OP_CONST,  /* push consts[a] */
    OP_NIL,    /* push nil */
    OP_VAR,    /* push slot a */
    OP_FIELD,  /* pop; push its field strs[a] */
    OP_CALL,   /* pop a arguments; push fn(arguments); b: the first
                  popped is the piped value, passed last */
    OP_AND,    /* top falsy: jump to a keeping it; else pop it */
    OP_OR,     /* top truthy: jump to a keeping it; else pop it */
    OP_PRINT,  /* pop and print */
    OP_SET,    /* pop into slot a */
    OP_DUP,    /* push top again */
    OP_JUMP,   /* jump to a */
    OP_JFALSE, /* pop; falsy: jump to a */
    OP_WITH,   /* pop; falsy: jump to a; else it becomes dot */
    OP_WITH_END,
    OP_RANGE,      /* pop; empty: jump to a; else start iterating; key to
                      slot b - 1, element to slot c - 1 (0: none) */
    OP_RANGE_NEXT, /* next element as dot, or end: jump to a */
    OP_RANGE_BREAK,
    OP_TEMPLATE /* pop; run procs[a] with it as dot */
} tmpl_opcode;

typedef struct {
    tmpl_opcode op;
    uint32_t a, b, c;
    const tmpl_func *fn; /* OP_CALL */
    uint32_t off, end;   /* the source the instruction came from */
} tmpl_insn;

typedef struct {
    char *name;
    tmpl_insn *code;
    size_t len, cap;
    uint32_t nslots; /* variables, $ being slot 0 */
} tmpl_proc;

typedef struct {
    char *file;       /* the name errors carry */
    char *src;        /* the source, for line, column and "at <...>" */
    tmpl_proc *procs; /* [0] runs first */
    size_t nprocs;
    tmpl_value **consts;
    size_t nconsts, consts_cap;
    char **strs;
    size_t nstrs, strs_cap;
    bool missing_key_error;
} tmpl_program;

int vpd_tmpl_program_compile(const char *name, const char *src, size_t len,
                             const char *left, const char *right,
                             bool missing_key_error,
                             const char *const *denylist, tmpl_program **out,
                             char *err, size_t errlen);
void vpd_tmpl_program_free(tmpl_program *p);

#endif
