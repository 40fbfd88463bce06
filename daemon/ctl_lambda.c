/* ctl_lambda.c - `rectifyctl lambda check|eval`: try a lambda by hand.
 *
 * Argument parsing and JSON output only; the language is in lib/lambda/.
 * Output (one JSON object on stdout, documented in docs/lambda-language.md):
 *   check: {"ok":true}                                        exit 0
 *          {"ok":false,"error":"SyntaxError|CheckError|LimitError","message":"... at L:C"}  exit 1
 *   eval:  {"ok":true,"type":"str","value":"..."}             exit 0 ("value":null for None)
 *          {"ok":false,"error":"ValueError","message":"..."}  exit 1
 * Usage errors exit 2.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/lambda.h"

static int emit(rf_buf_t *b, int code) {
  if (!rf_buf_ok(b)) {
    fprintf(stderr, "rectifyctl: out of memory\n");
    rf_buf_free(b);
    return 2;
  }
  fwrite(b->data, 1, b->len, stdout);
  fputc('\n', stdout);
  rf_buf_free(b);
  return code;
}

static int compile_or_report(const char *src, rf_lambda_t **l) {
  char err[512];
  int rc = rf_lambda_compile(src, strlen(src), NULL, l, err, sizeof(err));
  if (rc == 0)
    return 0;
  if (rc == RF_ENOMEM) {
    fprintf(stderr, "rectifyctl: out of memory\n");
    return 2;
  }
  rf_buf_t b = RF_BUF_INIT;
  rf_buf_puts(&b, "{\"ok\":false,\"error\":");
  rf_buf_json_str(&b, rf_lambda_compile_error_class(rc), strlen(rf_lambda_compile_error_class(rc)));
  rf_buf_puts(&b, ",\"message\":");
  rf_buf_json_str(&b, err, strlen(err));
  rf_buf_puts(&b, "}");
  return emit(&b, 1);
}

static int cmd_check(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "--help") == 0) {
    fprintf(argc == 2 ? stdout : stderr, "usage: rectifyctl lambda check 'lambda x: ...'\n");
    return argc == 2 ? 0 : 2;
  }
  rf_lambda_t *l = NULL;
  int rc = compile_or_report(argv[1], &l);
  if (rc)
    return rc;
  rf_lambda_free(l);
  printf("{\"ok\":true}\n");
  return 0;
}

static int cmd_eval(int argc, char **argv) {
  const char *src = NULL, *value = NULL, *rowtext = NULL;
  int none = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      printf("usage: rectifyctl lambda eval 'lambda x: ...' VALUE [--row JSON] [--none]\n"
             "  VALUE is x as a str; --none passes x = None instead (then omit VALUE);\n"
             "  --row gives the row mapping as a JSON object (for 'lambda x, row: ...').\n");
      return 0;
    }
    if (strcmp(argv[i], "--none") == 0) {
      none = 1;
    } else if (strcmp(argv[i], "--row") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "rectifyctl: --row needs a JSON object\n");
        return 2;
      }
      rowtext = argv[i];
    } else if (!src) {
      src = argv[i];
    } else if (!value) {
      value = argv[i];
    } else {
      fprintf(stderr, "rectifyctl: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!src || (!value && !none) || (value && none)) {
    fprintf(stderr, "usage: rectifyctl lambda eval 'lambda x: ...' VALUE [--row JSON] [--none]\n");
    return 2;
  }
  cJSON *row = NULL;
  if (rowtext) {
    row = cJSON_Parse(rowtext);
    if (!row || !cJSON_IsObject(row)) {
      fprintf(stderr, "rectifyctl: --row must be a JSON object\n");
      cJSON_Delete(row);
      return 2;
    }
  }
  rf_lambda_t *l = NULL;
  int rc = compile_or_report(src, &l);
  if (rc) {
    cJSON_Delete(row);
    return rc;
  }
  rf_lambda_result_t res;
  rc = rf_lambda_eval(l, none ? NULL : value, none ? 0 : strlen(value), row, &res);
  rf_lambda_free(l);
  cJSON_Delete(row);
  if (rc) {
    fprintf(stderr, "rectifyctl: %s\n", rf_strerror(rc));
    return 2;
  }
  rf_buf_t b = RF_BUF_INIT;
  if (res.ok) {
    rf_buf_puts(&b, "{\"ok\":true,\"type\":");
    rf_buf_json_str(&b, res.type, strlen(res.type));
    rf_buf_puts(&b, ",\"value\":");
    if (res.is_none)
      rf_buf_puts(&b, "null");
    else
      rf_buf_json_str(&b, res.value, res.value_len);
    rf_buf_puts(&b, "}");
  } else {
    rf_buf_puts(&b, "{\"ok\":false,\"error\":");
    rf_buf_json_str(&b, res.error, strlen(res.error));
    rf_buf_puts(&b, ",\"message\":");
    rf_buf_json_str(&b, res.message, strlen(res.message));
    rf_buf_puts(&b, "}");
  }
  int code = res.ok ? 0 : 1;
  rf_lambda_result_clear(&res);
  return emit(&b, code);
}

RF_CTL_COMMAND(lambda_check, "lambda check", "lambda check 'SRC'",
               "check a lambda against the language rules", cmd_check)
RF_CTL_COMMAND(lambda_eval, "lambda eval", "lambda eval 'SRC' VALUE [--row JSON] [--none]",
               "evaluate a lambda on one value", cmd_eval)
