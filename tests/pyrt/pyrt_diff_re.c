/* pyrt_diff_re.c - the pyre part of the differential driver. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/lambda/pyre.h"
#include "pyrt_diff.h"

static cJSON *str_or_null(const char *p, size_t n) {
  if (p == NULL)
    return cJSON_CreateNull();
  char *tmp = malloc(n + 1);
  memcpy(tmp, p, n);
  tmp[n] = '\0';
  cJSON *s = cJSON_CreateString(tmp);
  free(tmp);
  return s;
}

static void put_json(pyrt_result_t *r, cJSON *j) {
  char *txt = cJSON_PrintUnformatted(j);
  rf_buf_puts(&r->out, txt);
  free(txt);
  cJSON_Delete(j);
}

void pyrt_run_pyre(const cJSON *c, pyrt_result_t *r) {
  size_t fl, pl, sl, rl;
  const char *f = pyrt_str(c, "f", &fl);
  const char *pat = pyrt_str(c, "pat", &pl);
  const char *s = pyrt_str(c, "s", &sl);
  const cJSON *flags = cJSON_GetObjectItemCaseSensitive(c, "flags");
  r->msg_loose = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "loose"));
  rf_py_re_limits_t lim = {1000000, 10000, 1 << 20, 1 << 16};
  rf_py_re_t *re = NULL;
  if (rf_py_re_compile(pat, pl, flags ? flags->valueint : 0, &lim, &re, &r->err) < 0)
    return;
  if (strcmp(f, "match") == 0 || strcmp(f, "search") == 0 || strcmp(f, "fullmatch") == 0) {
    enum rf_py_re_mode mode = f[0] == 'm' ? RF_PY_RE_MATCH
                              : f[0] == 's' ? RF_PY_RE_SEARCH
                                            : RF_PY_RE_FULLMATCH;
    rf_py_match_t m;
    int rc = rf_py_re_exec(re, s, sl, mode, &m, &r->err);
    if (rc == 0) {
      rf_buf_puts(&r->out, "null");
    } else if (rc == 1) {
      cJSON *a = cJSON_CreateArray();
      for (int g = 0; g <= m.ngroups; g++) {
        long b = m.span[2 * g], e = m.span[2 * g + 1];
        cJSON_AddItemToArray(a, b < 0 ? cJSON_CreateNull() : str_or_null(s + b, (size_t)(e - b)));
      }
      put_json(r, a);
      rf_py_match_clear(&m);
    }
  } else if (strcmp(f, "sub") == 0) {
    const char *repl = pyrt_str(c, "repl", &rl);
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(c, "count");
    rf_py_re_sub(re, repl, rl, s, sl, count ? (long)count->valuedouble : 0, &r->out, &r->err);
  } else if (strcmp(f, "split") == 0 || strcmp(f, "findall") == 0) {
    rf_py_strlist_t l;
    int rc;
    if (f[0] == 's') {
      const cJSON *ms = cJSON_GetObjectItemCaseSensitive(c, "maxsplit");
      rc = rf_py_re_split(re, s, sl, ms ? (long)ms->valuedouble : 0, &l, &r->err);
    } else {
      rc = rf_py_re_findall(re, s, sl, &l, &r->err);
    }
    if (rc == 0) {
      cJSON *a = cJSON_CreateArray();
      size_t w = l.tuple_width;
      for (size_t i = 0; i < l.n; i += w ? w : 1) {
        if (w) {
          cJSON *row = cJSON_CreateArray();
          for (size_t k = 0; k < w; k++)
            cJSON_AddItemToArray(row, str_or_null(l.items[i + k].p, l.items[i + k].len));
          cJSON_AddItemToArray(a, row);
        } else {
          cJSON_AddItemToArray(a, str_or_null(l.items[i].p, l.items[i].len));
        }
      }
      put_json(r, a);
      rf_py_strlist_clear(&l);
    }
  } else if (strcmp(f, "groups") == 0) {
    rf_buf_printf(&r->out, "%d", rf_py_re_groups(re));
  }
  rf_py_re_free(re);
}
