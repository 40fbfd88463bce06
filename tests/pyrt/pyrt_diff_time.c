/* pyrt_diff_time.c - the pytime part of the differential driver. */
#include <string.h>

#include "../../lib/lambda/pytime.h"
#include "pyrt_diff.h"

static int num_at(const cJSON *a, int i) {
  const cJSON *it = cJSON_GetArrayItem(a, i);
  return cJSON_IsNumber(it) ? it->valueint : 0;
}

static void decode_dt(const cJSON *a, rf_py_datetime_t *dt) {
  memset(dt, 0, sizeof(*dt));
  dt->year = num_at(a, 0);
  dt->month = num_at(a, 1);
  dt->day = num_at(a, 2);
  dt->hour = num_at(a, 3);
  dt->minute = num_at(a, 4);
  dt->second = num_at(a, 5);
  dt->microsecond = num_at(a, 6);
  const cJSON *off = cJSON_GetArrayItem(a, 7);
  if (cJSON_IsNumber(off)) {
    dt->aware = true;
    dt->utcoffset_s = off->valueint;
    dt->utcoffset_us = num_at(a, 8);
    const cJSON *name = cJSON_GetArrayItem(a, 9);
    if (cJSON_IsString(name))
      snprintf(dt->tzname, sizeof(dt->tzname), "%s", name->valuestring);
  }
  dt->is_date = cJSON_IsTrue(cJSON_GetArrayItem(a, 10));
}

void pyrt_run_pytime(const cJSON *c, pyrt_result_t *r) {
  size_t fl, sl, ml;
  const char *f = pyrt_str(c, "f", &fl);
  const char *fmt = pyrt_str(c, "fmt", &ml);
  rf_py_datetime_t dt;
  if (strcmp(f, "strptime") == 0) {
    const char *s = pyrt_str(c, "s", &sl);
    /* Exercise both entry points: one-shot and compiled. */
    rf_py_strptime_fmt_t *cf = NULL;
    rf_pyerr_t e1 = {NULL, ""};
    int rc1 = rf_py_strptime(s, sl, fmt, ml, &dt, &e1);
    int rc2 = rf_py_strptime_compile(fmt, ml, &cf, &r->err);
    if (rc2 == 0) {
      rf_py_datetime_t dt2;
      rc2 = rf_py_strptime_exec(cf, s, sl, &dt2, &r->err);
      if (rc2 == 0 && memcmp(&dt, &dt2, sizeof(dt)) != 0)
        rf_pyerr_set(&r->err, "DriverError", "compiled and one-shot strptime differ");
      rf_py_strptime_free(cf);
    }
    if ((rc1 == 0) != (rc2 == 0) || (rc1 != 0 && strcmp(e1.msg, r->err.msg) != 0))
      rf_pyerr_set(&r->err, "DriverError", "compiled and one-shot strptime differ");
    if (r->err.type) {
      r->msg_loose = strcmp(r->err.type, "error") == 0;
      return;
    }
    rf_py_isoformat(&dt, 'T', &r->out);
    rf_buf_putc(&r->out, '|');
    rf_py_strftime(&dt, "%Z", 2, &r->out, &r->err);
  } else if (strcmp(f, "strftime") == 0) {
    decode_dt(cJSON_GetObjectItemCaseSensitive(c, "dt"), &dt);
    rf_py_strftime(&dt, fmt, ml, &r->out, &r->err);
  } else if (strcmp(f, "isoformat") == 0) {
    decode_dt(cJSON_GetObjectItemCaseSensitive(c, "dt"), &dt);
    const char *sep = pyrt_str(c, "sep", &sl);
    rf_py_isoformat(&dt, sep[0], &r->out);
  } else if (strcmp(f, "weekday") == 0) {
    decode_dt(cJSON_GetObjectItemCaseSensitive(c, "dt"), &dt);
    rf_buf_printf(&r->out, "%d", rf_py_weekday(&dt));
  }
}
