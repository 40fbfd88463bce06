/* compile.h - state shared by the lexer, the parser and the checker.
 *
 * Compilation errors unwind with _longjmp to rf_lambda_compile(), which frees
 * the lambda's arena (every node, token and constant lives there).
 */
#ifndef RF_LAMBDA_COMPILE_H
#define RF_LAMBDA_COMPILE_H

#include "lambda_int.h"

enum rf__tk {
  TK_END,
  TK_NEWLINE,
  TK_NAME,
  TK_INT,
  TK_FLOAT,
  TK_IMAG,
  TK_STR,
  TK_OP,
};

enum { SF_RAW = 1, SF_F = 2, SF_BYTES = 4 };

typedef struct rf__tok {
  int kind;
  const char *p; /* token text in the source */
  size_t len;
  uint32_t line, col;
  /* strings: body between the quotes and where it starts */
  int sflags;
  const char *body;
  size_t blen;
  uint32_t bline, bcol;
} rf__tok_t;

enum rf__cerr { CE_SYNTAX = 1, CE_CHECK, CE_LIMIT, CE_NOMEM };

typedef struct rf__cc {
  rf_lambda_t *l;
  jmp_buf jb;
  int err;       /* enum rf__cerr */
  char msg[512]; /* "message at line:col" */
  /* token stream of the text being parsed (the source or an f-string field) */
  rf__tok_t *toks;
  size_t ntoks, pos;
  int depth; /* syntactic nesting */
  size_t nodes;
  int fdepth; /* f-string nesting */
  rf_buf_t sbuf; /* scratch for string decoding; freed by rf_lambda_compile */
} rf__cc_t;

_Noreturn void rf__cc_fail(rf__cc_t *cc, int kind, uint32_t line, uint32_t col, const char *fmt,
                           ...) __attribute__((format(printf, 5, 6)));
void *rf__cc_alloc(rf__cc_t *cc, size_t n);
char *rf__cc_strdup(rf__cc_t *cc, const char *p, size_t n);

/* Tokenise src[0..len), positions starting at (line, col). */
void rf__lex(rf__cc_t *cc, const char *src, size_t len, uint32_t line, uint32_t col,
             rf__tok_t **out, size_t *nout);
/* Decode a (non-f) string token body with its escapes into the arena. */
rf__str_t *rf__decode_str(rf__cc_t *cc, const rf__tok_t *t);
/* Decode escapes of body[0..n) (positions for errors) appending to b. */
void rf__decode_escapes(rf__cc_t *cc, const char *body, size_t n, bool raw, uint32_t line,
                        uint32_t col, rf_buf_t *b);

/* Parse the whole source: the lambda. */
rf__node_t *rf__parse_lambda(rf__cc_t *cc, const char *src, size_t len, int *arity,
                             const char *params[2]);
/* Resolve names and enforce the allow-list. */
void rf__check(rf__cc_t *cc, rf__node_t *body, int arity, const char *params[2]);

/* The re.sub filter of a literal pattern, or NULL when the pattern is not a
 * single character class of the recognised subset (refast.c). */
const rf__refilt_t *rf__refilt_compile(rf__cc_t *cc, const char *pat, size_t len);
/* Set cc->l->kernel when the checked body is a straight str pipeline on x
 * (kernel.c). Runs after the re patterns were precompiled. */
void rf__kernel_build(rf__cc_t *cc);

#endif
